-- wrk script: the pre-send content check, POST /api/v1/checks/message (JSON body)
-- with a pipeline token, cycling through a few messages, transactional and spam.
--
--   wrk -t2 ... -s checks_message.lua URL -- TOKEN [USERNAME SENDER RECIPIENTS]
--
-- With USERNAME the check is the account's (its sender IDs, its pumping history):
-- SENDER is then one of its sender IDs and RECIPIENTS a comma-separated list of
-- numbers sent with every message. Without it, sender "SecGate" and no recipients.
--
-- Each answer must be 200 with a "verdict"; done() prints how many were not, and the
-- first such answer, as `bench-failures: N` and `bench-first-failure: BODY` for run.py.

local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

local MESSAGES = {
  "Your SecGate verification code is 482913. Do not share it with anyone.",
  "KFH: KWD 12.500 was debited from your card ending 4821 at TALABAT on 29/11.",
  "Your Aramex shipment 3920184 is out for delivery today. Track: https://www.aramex.com/track",
  "WINNER!! You have won a 1000 KWD prize. Call 90012345 now to claim, T&Cs apply",
  "URGENT! Your account is suspended. Verify now at http://bit.ly/3xYzAbc",
}

local headers, bodies
local sent = 0
failures = 0
first_failure = ""

local function json_string(s)
  return '"' .. s:gsub('[%c"\\]', function(c) return string.format("\\u%04x", c:byte()) end) .. '"'
end

function init(args)
  headers = { ["Content-Type"] = "application/json", ["Authorization"] = "Bearer " .. args[1] }
  local prefix = '{"sender": "SecGate", '
  if args[2] then
    local recipients = {}
    for number in string.gmatch(args[4] or "", "[^,]+") do
      table.insert(recipients, json_string(number))
    end
    prefix = '{"username": ' .. json_string(args[2]) .. ', "sender": ' .. json_string(args[3])
      .. ', "recipients": [' .. table.concat(recipients, ", ") .. '], '
  end
  bodies = {}
  for i, text in ipairs(MESSAGES) do
    bodies[i] = prefix .. '"message": ' .. json_string(text) .. '}'
  end
end

function request()
  sent = sent + 1
  return wrk.format("POST", nil, headers, bodies[(sent % #bodies) + 1])
end

function response(status, headers, body)
  if status ~= 200 or not string.find(body, '"verdict"', 1, true) then
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
