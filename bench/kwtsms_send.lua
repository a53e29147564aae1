-- wrk script: kwtSMS sends (POST /API/send/, JSON body) from one account, each request
-- to PER_REQUEST mobile numbers that no other request of the run uses (the gateway
-- refuses a number sent to within 15 s with ERR028).
--
--   wrk -t2 ... -s kwtsms_send.lua URL -- USERNAME PASSWORD SENDER PER_REQUEST TEST THREADS
--
-- Number k of the run is 965 + PREFIXES[k / 10^6] + k mod 10^6 on six digits: every
-- number of those blocks is a valid Kuwaiti mobile (bench/sms_load.py checks that the
-- prefixes still are). Thread t of THREADS sends requests t, t + THREADS, t + 2 THREADS...
--
-- Each answer's body must say "result": "OK"; done() prints how many did not, and the
-- first such body, as `bench-failures: N` and `bench-first-failure: BODY` for run.py.

local PREFIXES = { "50", "55", "66", "90", "94", "96", "97", "99" }
local BLOCK = 1000000
local SPACE = #PREFIXES * BLOCK

local threads = {}

function setup(thread)
  thread:set("thread_index", #threads)
  table.insert(threads, thread)
end

-- Per thread (each has a Lua state of its own), after setup().
local body_start, body_end, per_request, thread_count
local sent = 0
failures = 0
first_failure = ""

local function json_string(s)
  return '"' .. s:gsub('[%c"\\]', function(c) return string.format("\\u%04x", c:byte()) end) .. '"'
end

function init(args)
  local username, password, sender = args[1], args[2], args[3]
  per_request = tonumber(args[4])
  local test = tonumber(args[5])
  thread_count = tonumber(args[6])
  body_start = '{"username": ' .. json_string(username) .. ', "password": ' .. json_string(password)
    .. ', "sender": ' .. json_string(sender) .. ', "test": ' .. test
    .. ', "message": "SecGate bench: your code is 482913", "mobile": "'
  body_end = '"}'
end

local function number(k)
  k = k % SPACE
  return "965" .. PREFIXES[math.floor(k / BLOCK) + 1] .. string.format("%06d", k % BLOCK)
end

function request()
  local first = (sent * thread_count + thread_index) * per_request
  sent = sent + 1
  local numbers = {}
  for i = 1, per_request do
    numbers[i] = number(first + i - 1)
  end
  local body = body_start .. table.concat(numbers, ",") .. body_end
  return wrk.format("POST", nil, { ["Content-Type"] = "application/json" }, body)
end

function response(status, headers, body)
  if not string.find(body, '"result": "OK"', 1, true) then
    failures = failures + 1
    if first_failure == "" then
      first_failure = status .. " " .. body:gsub("%s+", " ")
    end
  end
end

function done(summary, latency, requests)
  local total, first = 0, ""
  for _, thread in ipairs(threads) do
    total = total + thread:get("failures")
    if first == "" then first = thread:get("first_failure") end
  end
  io.write(string.format("bench-failures: %d\n", total))
  if first ~= "" then io.write("bench-first-failure: " .. first .. "\n") end
end
