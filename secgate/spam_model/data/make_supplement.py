# ruff: noqa: E501 (templates read best one a line)
"""Writes supplement.txt beside this file: transactional ham and present-day scam spam,
English and Arabic, composed from templates with random fills (seeded, so the file is
the same each run). `spam-model train` adds it to every fit (secgate.spam_model.train). A line is
`ham|spam<TAB>template<TAB>text`.

No template may copy a message of tests/checks/data/transactional_en_ar.txt (the
transactional test set): tests/spam_model/test_spam_supplement.py checks that no
supplement message is a near twin of one, and that no notice (ham) names a brand with another
brand's site (it imports this module for the brand tables).

    .venv/bin/python secgate/spam_model/data/make_supplement.py
"""

import random
from pathlib import Path

R = random.Random(20261129)  # noqa: S311 (test data, not secrets)


def code(n=None):
    n = n or R.choice([4, 5, 6, 6, 6, 8])
    return "".join(R.choice("0123456789") for _ in range(n))


def amount():
    return f"{R.randint(1, 950)}.{R.randint(0, 999):03d}"


def card():
    return R.choice(["ending ", "ending in ", "no. ****", "xxxx", "*"]) + code(4)


def date():
    return f"{R.randint(1, 28):02d}/{R.randint(1, 12):02d}/{R.choice(['2025', '2026', '26'])}"


def time_():
    return f"{R.randint(0, 23):02d}:{R.randint(0, 59):02d}"


def minutes():
    return R.choice([2, 3, 5, 10, 15, 30])


# Brand tables, one per kind: a row is a brand's names and its own site (None when it has
# none). A message draws each kind's brand once and takes its name and site from one row, as
# real notices link to the sender's own site (scams pair a brand with a foreign domain, so a
# notice that did the same would teach the model the wrong thing).
telcos = [  # English name, Arabic name, site
    ("Zain", "زين", "www.zain.com"),
    ("Ooredoo", "أوريدو", "www.ooredoo.com"),
    ("stc", "stc", "www.stc.com.kw"),
]
banks = [
    ("NBK", "www.nbk.com"),
    ("KFH", "www.kfh.com"),
    ("Gulf Bank", "www.e-gulfbank.com"),
    ("Boubyan", "www.bankboubyan.com"),
    ("Warba Bank", "www.warbabank.com"),
    ("KIB", "www.kib.com.kw"),
    ("ABK", "abk.eahli.com"),
    ("Burgan Bank", "www.burgan.com"),
    ("CBK", "www.cbk.com"),
    ("Al Ahli Bank", "abk.eahli.com"),
]
insurers = [  # English name, Arabic name, site
    ("Gulf Insurance", "الخليج للتأمين", "www.gig.com.kw"),
    ("Warba Insurance", "وربة للتأمين", "www.warbains.com"),
    ("KIC", "الكويت للتأمين", "www.kic.com.kw"),
    ("Al Ahleia Insurance", "الأهلية للتأمين", "www.alahleia.com"),
]
government = [  # English name, Arabic name, site
    ("PACI", "الهيئة العامة للمعلومات المدنية", "www.paci.gov.kw"),
    ("Ministry of Interior", "وزارة الداخلية", "www.moi.gov.kw"),
    ("Ministry of Health", "وزارة الصحة", "www.moh.gov.kw"),
    ("Ministry of Justice", "وزارة العدل", "www.moj.gov.kw"),
    ("Kuwait Municipality", "بلدية الكويت", "www.baladia.gov.kw"),
    ("Public Authority for Manpower", "الهيئة العامة للقوى العاملة", "www.manpower.gov.kw"),
]
apps = [
    ("Talabat", "id.talabat.com"),
    ("Deliveroo", None),
    ("Careem", "www.careem.com"),
    ("Uber", "www.uber.com"),
    ("Instagram", "www.instagram.com"),
    ("Facebook", "www.facebook.com"),
    ("Telegram", "telegram.org"),
    ("Microsoft", "account.microsoft.com"),
    ("Apple ID", "appleid.apple.com"),
    ("Amazon", "www.amazon.ae"),
    ("Noon", "login.noon.com"),
    ("Xcite", "www.xcite.com"),
    ("Sahel", "www.sahel.gov.kw"),
    ("MyZain", "www.zain.com"),
    ("Ooredoo app", "www.ooredoo.com"),
    ("STC app", "www.stc.com.kw"),
    ("KNET", "www.knet.com.kw"),
    ("Tap Payments", "www.tap.company"),
    ("Binance", "www.binance.com"),
    ("LinkedIn", "www.linkedin.com"),
]
merchants = [  # as a card statement names them
    ("LULU HYPERMARKET", "www.luluhypermarket.com"),
    ("SULTAN CENTER", None),
    ("ALSHAYA H&M", None),
    ("STARBUCKS AVENUES", None),
    ("XCITE", "www.xcite.com"),
    ("TALABAT", "www.talabat.com"),
    ("COOP JABRIYA", None),
    ("IKEA KUWAIT", "www.ikea.com.kw"),
    ("AMAZON.AE", "www.amazon.ae"),
    ("NOON.COM", "www.noon.com"),
    ("CARREFOUR", None),
    ("MCDONALDS SALMIYA", None),
    ("PHARMACY ONE", None),
    ("OULA FUEL", None),
]
shops = [
    ("Xcite", "www.xcite.com"),
    ("noon", "www.noon.com"),
    ("Lulu", "www.luluhypermarket.com"),
    ("IKEA", "www.ikea.com.kw"),
    ("Boutiqaat", "www.boutiqaat.com"),
    ("Talabat Mart", "www.talabat.com"),
]
couriers = [  # name, tracking link (on the courier's own site)
    ("Aramex", "https://www.aramex.com/track/results?ShipmentNumber="),
    ("DHL", "https://www.dhl.com/kw-en/home/tracking.html?tracking-id="),
    ("FedEx", "https://www.fedex.com/fedextrack/?trknbr="),
    ("UPS", "https://www.ups.com/track?tracknum="),
    ("Kuwait Post", "https://www.moc.gov.kw/track/"),
    ("SMSA", "https://www.smsaexpress.com/trackingdetails?tracknumbers="),
]
clinics = [
    ("Dar Al Shifa Hospital", "www.daralshifa.com"),
    ("Royale Hayat Hospital", "www.royalehayat.com"),
    ("New Mowasat Hospital", "www.newmowasat.com"),
    ("Taiba Hospital", "www.taibahospital.com"),
    ("Al Salam International Hospital", None),
    ("the dental clinic", None),
    ("Salmiya Polyclinic", None),
]
schools = [  # English name, Arabic name, parents' portal
    ("American School of Kuwait", "المدرسة الأمريكية", "portal.ask.edu.kw"),
    ("Al-Bayan Bilingual School", "مدرسة البيان ثنائية اللغة", "parents.bbs.edu.kw"),
    ("British School of Kuwait", "المدرسة البريطانية في الكويت", "sis.bsk.edu.kw"),
    ("Gulf English School", "مدرسة الخليج الإنجليزية", "portal.ges.edu.kw"),
]
hotels = [
    ("Jumeirah Messilah", "www.jumeirah.com"),
    ("Four Seasons Kuwait", "www.fourseasons.com"),
    ("Hilton Kuwait Resort", "www.hilton.com"),
    ("Crowne Plaza", "www.ihg.com"),
]


def brand(table, template, site):
    """A row of a brand table; one with a site of its own when the template links to it
    (`{site}`)."""
    if "{" + site + "}" in template:
        table = [row for row in table if row[-1]]
    return R.choice(table)


ham, spam = [], []
en_otp = [
    "{app} verification: {c} (expires in {m} min).",
    "{c} is your {app} code. Do not share it with anyone.",
    "Use {c} to sign in to {app}. If you didn't request this, ignore this message.",
    "{app}: your one-time password is {c}. Valid for {m} min. Never share it.",
    "Your OTP for the transaction of KWD {a} at {merchant} is {c}. Do not share.",
    "{bank}: OTP {c} to confirm adding a new beneficiary. Our staff will never ask for it.",
    "Code: {c}. Enter it in {app} to verify your number.",
    "<#> {c} is your {app} login code. {hash}",
    "Your {app} security code is {c}",
    "{c} - enter this code to reset your {app} password. It is valid for {m} minutes.",
    "Verification code {c}. Please use it within {m} minutes.",
    "{bank} OTP: {c}. Use it to activate your card {card}.",
    "WhatsApp code {c3}-{c3b}. Enter it in the app to finish registering this phone.",
    "{app}: {c} is the code to confirm your sign-in.",
    "Your one-time PIN for {app} is {c}. It will expire at {t}.",
    "{c} is your login OTP for {bank} Online. Do not disclose it.",
    "Enter {c} on the {app} screen to confirm your e-mail change.",
    "Security code for your {bank} card payment of KWD {a}: {c}",
    "Your {app} code is {c}. Don't share it. If you didn't ask for it, someone may be trying to access your account.",
    "{c} is your verification code for {app}. You can also tap this link: https://{appdom}/verify/{c}",
    "Login attempt to {app} from a new device. Your code: {c}. Not you? Change your password.",
    "Confirm your phone number with code {c} in the {app} app.",
    "KNET: OTP {c} for payment of KWD {a} to {merchant}. Valid {m} minutes.",
]
ar_otp = [
    "رمز التحقق الخاص بك في {app} هو {c}",
    "{c} هو رمز الدخول إلى {app}. لا تشاركه مع أحد.",
    "رمز المرور لمرة واحدة: {c} صالح لمدة {m} دقائق",
    "{bank}: رمز التحقق {c} لإتمام عملية الشراء بمبلغ {a} د.ك",
    "لا تشارك هذا الرمز مع أي شخص. رمز التفعيل: {c}",
    "{c} رمز الدخول المؤقت إلى تطبيق {app}",
    "رمز التأكيد لعملية الدفع {c}. لا تعطه لأحد",
]
en_bank = [
    "{bank}: KWD {a} purchase at {merchant} with card {card} ({d} {t}). Don't recognise it? Ring {hot}.",
    "{bank}: KWD {a} has been debited from your account {card} on {d}. Available balance KWD {a2}.",
    "{bank}: Salary of KWD {a} credited to your account {card} on {d}.",
    "Dear customer, a transfer of KWD {a} to {name} was completed from {card}. Ref {ref}.",
    "{bank}: Your credit card statement is ready. Amount due KWD {a}, due date {d}.",
    "{bank}: Cash withdrawal of KWD {a} from ATM at {place} using card {card}.",
    "{bank}: Your standing order of KWD {a} was paid on {d}.",
    "Purchase declined: insufficient funds for KWD {a} at {merchant}. {bank}",
    "{bank}: Your new debit card {card} has been activated. For help call {hot}.",
    "Security tip from {bank}: keep your PIN and OTP private; our staff do not request them.",
    "{bank}: A refund of KWD {a} from {merchant} was credited to card {card}.",
    "Your loan installment of KWD {a} will be deducted on {d}. {bank}",
    "{bank}: Purchase of KWD {a} with card {card} at {merchant}. For help call {hot} or visit https://{bankdom}",
    "{bank}: a replacement for card {card} (valid to {d}) is waiting at your branch.",
    "{bank}: Online purchase KWD {a} at {merchant} approved. Balance KWD {a2}.",
    "{bank} debit alert: KWD {a} spent at {merchant} with card {card}. Balance now KWD {a2}",
    "Credit alert: KWD {a} received in A/C {card} from {name} on {d}.",
    "{bank}: card {card} locked after several incorrect PIN entries. Contact {hot} to unlock it.",
    "{bank}: Your account {card} was credited with KWD {a} (transfer from {name}).",
    "{bank}: Direct debit of KWD {a} to {merchant} processed on {d}.",
    "{bank}: Your fixed deposit of KWD {a} matures on {d}.",
    "{bank}: Transaction of KWD {a} at {merchant} reversed. New balance KWD {a2}.",
    "{bank}: Your mobile banking PIN was reset on {d} {t}.",
    "{bank}: Your card {card} is now enabled for online purchases.",
    "{bank}: Your request {ref} to increase the card limit was approved.",
    "{bank}: Your e-statement for {d} is available in online banking.",
    "{bank}: Login to online banking on {d} {t}. If this was not you, call {hot} now.",
    "{bank}: Your beneficiary {name} was added. If you did not do this, call {hot}.",
]
ar_bank = [
    "{bank}: تم خصم {a} د.ك من حسابك {card} لدى {merchant} بتاريخ {d}",
    "{bank}: وصل راتب {a} د.ك إلى حسابك {card}",
    "{bank}: تم رد مبلغ {a} د.ك إلى بطاقتك {card}",
    "تم تفعيل بطاقتك الجديدة {card} بنجاح",
    "عزيزي العميل، تمت عملية تحويل بمبلغ {a} د.ك بنجاح. الرقم المرجعي {ref}",
    "{bank}: كشف حساب بطاقتك الائتمانية جاهز. المبلغ المستحق {a} د.ك",
    "{bank}: عملية شراء بقيمة {a} د.ك باستخدام البطاقة {card}. للاستفسار اتصل {hot}",
    "{bank}: تم سحب {a} د.ك نقداً من الصراف الآلي في {place}",
    "{bank}: فاتورة بطاقتك {a} د.ك تستحق في {d}. للدفع: https://{bankdom}",
    "تم تحويل {a} د.ك إلى {name} من حسابك {card}. المرجع {ref}",
    "{bank}: البطاقة {card} موقوفة مؤقتاً بعد 3 محاولات خاطئة للرقم السري. اتصل {hot}",
    "{bank}: حافظ على سرية رمزك ولا ترسله لأي شخص",
]
en_delivery = [
    "{courier}: a courier is bringing parcel {trk} to you today. Live tracking {url}{trk}",
    "{merchant}: your click and collect order {ref} is ready at the service desk until {d}.",
    "Package {trk} from {merchant} has cleared customs and goes to your address next.",
    "{courier}: driver {first} will call you before delivering {trk}.",
    "Your {courier} parcel {trk} has been delivered. Thank you.",
    "{courier}: Shipment {trk} arrived in Kuwait and will be delivered within 2 days. {url}{trk}",
    "Your order #{ref} from {merchant} has been shipped. Estimated delivery {d}.",
    "Your {app} order is on its way. The driver will arrive in about {m} minutes.",
    "{courier}: We could not deliver {trk} today. We will try again tomorrow. Details: {url}{trk}",
    "Your order {ref} is ready for pickup at {merchant}. Bring your civil ID.",
    "{courier}: delivery window for {trk} on {d}: {t}-{t2}. Change it at {url}{trk}",
    "{app}: {first} has picked up your order {ref} and is heading to you. Contact: {ph8}.",
    "Your {courier} shipment {trk} is waiting at the service point. Pick it up within 5 days.",
    "{courier}: Delivery of {trk} rescheduled to {d}. Track: {url}{trk}",
    "Your grocery order from {merchant} will arrive between {t} and {t2}.",
    "Your order #{ref} has shipped and arrives {d}. Questions? Reply HELP. Reply STOP to opt out.",
    "{merchant}: your order {ref} was delivered. Need help? Reply HELP.",
    "Your return for order #{ref} was received; the refund of KWD {a} follows in 5 days. Reply HELP for help.",
    "{courier}: your parcel {trk} arrives {d}. Reply 1 to confirm you are home, 2 to reschedule.",
    "Order {ref} confirmed: KWD {a}. Track it in the {app} app. Msg&data rates may apply. Reply STOP to cancel alerts.",
]
ar_delivery = [
    "{courier}: المندوب يحمل شحنتك {trk} وسيصلك اليوم",
    "تم توصيل طلبك رقم {ref} بنجاح. شكراً لتسوقك معنا",
    "طلبك من {merchant} جاهز للاستلام",
    "سيصل المندوب خلال {m} دقيقة لتوصيل طلبك",
    "{courier}: الشحنة {trk} خرجت للتوصيل. لمتابعتها {url}{trk}",
    "{app}: طلبك {ref} قيد التحضير وسيصلك خلال {m} دقيقة",
    "طلبك رقم {ref} في الطريق. السائق {first} {ph8}",
    "تم شحن طلبك رقم {ref}. التوصيل المتوقع {d}",
]
en_misc = [
    "{clinic}: you are booked on {d} at {t}. Reply 1 to confirm, 2 to cancel.",
    "Zain: Your bill of KWD {a} is due on {d}. Pay at https://www.zain.com/en/pay-bill",
    "{telco_name}: most of your data bundle is used. Manage it in the {telco_name} app.",
    "STC: Your line will be renewed on {d}. Amount KWD {a}.",
    "{app}: the password on your account was reset {d} {t}. Didn't do it? Contact support.",
    "New sign-in to your {app} account from iPhone in Kuwait City. If this was you, no action is needed.",
    "Ministry of Interior: Your vehicle registration expires on {d}. Renew via Sahel app.",
    "School notice: classes resume on {d}. Buses leave at {t}.",
    "Your table for 4 at {merchant} is booked for {d} {t}.",
    "Flight KU{fl} to Dubai departs {d} at {t}. Check-in closes 60 minutes before.",
    "{telco_name}: {pct}% of your {gb}GB allowance is used. Top up at https://{telcodom}",
    "Zain: Your {gb}GB bundle was renewed. Valid until {d}.",
    "{bank}: sign-in from a new {device} detected. If it wasn't you, reset your password at https://{bankdom}",
    "Your prescription is ready for pickup at {merchant}.",
    "Dear parent, the school bus will arrive at {t} tomorrow.",
    "Your internet subscription will expire on {d}. Renew at https://{telcodom}",
    "Welcome to {app}! Your account is ready.",
    "Your booking {ref} at {clinic} is confirmed for {d} {t}. To cancel call {hot}.",
    "MOH: Your vaccination appointment is on {d} at {t}, {clinic}.",
    "Your electricity bill of KWD {a} is due. Pay via the Sahel app or https://www.mew.gov.kw",
    "{gov}: your request {ref} has been completed. Details at https://{govdom}",
    "{gov}: your document {ref} can be picked up from {d}. Opening hours at https://{govdom}",
    "{clinic}: your lab results are ready. View them in the patient app.",
    "Your gym membership renews on {d}. KWD {a} will be charged to card {card}.",
    "Traffic department: vehicle {ref} passed technical inspection on {d}.",
    "{telco_name}: your number was transferred successfully. Restart your phone.",
    "Your parking session in zone {fl} ends at {t}. Extend it in the app.",
    "MEW: water supply in your area will be interrupted on {d} from {t} to {t2} for maintenance.",
    "School office: {first} was absent today. Please call us if this is unexpected.",
    "Your visa application {ref} has been approved. Download it from https://{govdom}",
    "Hotel booking confirmed: check-in {d}, confirmation {ref}.",
    "Your insurance policy {ref} renews on {d}. Premium KWD {a}.",
    "Cinema tickets for {d} {t} confirmed. Booking {ref}. Show this SMS at the door.",
    "{merchant} service centre: your vehicle is due its periodic maintenance. Ring {hot} for a slot.",
    "Reminder from {merchant}: oil change and inspection due this month. Book on {hot}.",
    "Your AC maintenance visit is due. Call {hot} to schedule a technician.",
    "Tyre rotation due for your car. Visit any branch or call {hot}.",
    "Your new passport is ready to be picked up. Reserve a visit time on https://{govdom}",
    "{gov}: the renewed licence can be collected from the service centre. Reserve a time at https://{govdom}",
    "Your repaired phone is ready for pickup at {merchant}. Bring your receipt.",
    "Annual check-up due at {clinic}. Call {hot} to book.",
    "{gov}: your application {ref} was received and is under review. Track it at https://{govdom}",
    "Your residency renewal request {ref} was approved. Collect it from {gov} or view it at https://{govdom}",
    "Your appointment with {gov} is on {d} at {t}. Manage it at https://{govdom}",
    "{telco_name} invoice for {month}: KWD {a}, payable by {d}. Settle it at https://{telcodom}/pay",
    "{telco_name}: top-up of KWD {a} added to your line. Credit now KWD {a2}.",
    "{telco_name}: your roaming pack is active until {d}. Usage details at https://{telcodom}",
    "KNET: your payment of KWD {a} to {merchant} was successful. Ref {ref}.",
    "Your payment of KWD {a} to {gov} (ref {ref}) was successful.",
    "Thank you for your payment of KWD {a}. Receipt no. {ref}.",
]
ar_misc = [
    "تذكير: موعدك في {clinic} يوم {d} الساعة {t}",
    "زين: فاتورتك بمبلغ {a} د.ك مستحقة بتاريخ {d}",
    "تم تغيير كلمة المرور لحسابك. إذا لم تقم بذلك تواصل معنا",
    "{gov_ar}: معاملتك رقم {ref} مكتملة",
    "رحلتك رقم KU{fl} تغادر يوم {d} الساعة {t}",
    "زين: استهلكت {pct}٪ من باقتك. لإضافة بيانات https://www.zain.com",
    "موعد تجديد تأمين سيارتك {d}. القسط {a} د.ك",
    "نتائج التحاليل جاهزة في {clinic}",
    "انقطاع المياه في منطقتك يوم {d} من الساعة {t} للصيانة",
    "تم استلام دفعتك بمبلغ {a} د.ك. شكراً لك",
    "موعد الصيانة الدورية لسيارتك قد حان. للحجز اتصل {hot}",
    "جواز سفرك الجديد جاهز للاستلام. احجز موعد الزيارة عبر https://{govdom}",
    "زين: تم تجديد باقتك {gb} جيجا. صالحة حتى {d}",
    "تم تسجيل الدخول إلى حسابك من جهاز جديد. إذا لم تكن أنت غيّر كلمة المرور",
    "وصفتك الطبية جاهزة للاستلام من {merchant}",
    "عزيزي ولي الأمر، سيصل باص المدرسة الساعة {t}",
    "تم تأكيد حجزك رقم {ref} يوم {d} الساعة {t}",
    "{gov_ar}: طلبك رقم {ref} جاهز للاستلام. احجز موعداً عبر https://{govdom}",
    "{gov_ar}: تم استلام طلبك رقم {ref} وهو قيد المراجعة",
    "تمت عملية الدفع بمبلغ {a} د.ك بنجاح. المرجع {ref}",
    "فاتورة {month_ar} بمبلغ {a} د.ك وتستحق في {d}. للدفع: https://{telcodom}",
]
# Notices that carry a link, as most of today's transactional SMS do (e-invoices,
# receipts, statements, tracking, appointments, government e-services): without them an
# unseen kind of link-bearing notice scores like a 2011 spam.
en_link = [
    "{merchant}: your e-invoice {ref} for KWD {a} is ready. View or download it: https://{merchantdom}/invoice/{tok}",
    "Receipt for your payment of KWD {a} to {merchant}: https://{merchantdom}/r/{tok}",
    "{bank}: your {month} account statement is ready. Open it in the app: https://{bankdom}/app/statements",
    "{bank}: to finish opening your account, sign the forms in the {bank} app or at https://{bankdom}/onboarding/{tok}",
    "{clinic}: appointment {ref} confirmed for {d} at {t}. Directions and preparation notes: https://{clinicdom}/a/{tok}",
    "{clinic}: please fill in your medical history before your visit on {d}: https://{clinicdom}/forms/{tok}",
    "Sahel: your request {ref} to {govservice} was approved. Details in the Sahel app or https://www.sahel.gov.kw",
    "MOI: a traffic violation {ref} was recorded for vehicle {plate} on {d}. View it in the Sahel app or at https://www.moi.gov.kw",
    "PACI: the address change for civil ID {civ} is complete. Check it at https://www.paci.gov.kw/services",
    "{courier}: parcel {trk} is at the {place} pickup point. Show code {c} at the counter. Map: {url}{trk}",
    "{courier}: please upload a copy of your civil ID for the customs clearance of {trk}: {url}{trk}",
    "{shop}: how was order {ref}? Rate it in one tap: https://{shopdom}/feedback/{tok}",
    "Your {shop} order {ref} was refunded: KWD {a} to card {card}. Details: https://{shopdom}/orders/{ref}",
    "{telco_name}: your e-bill for {month} (KWD {a}) is ready. View it: https://{telcodom}/ebill/{tok}",
    "{telco_name}: your {gb}GB plan renews on {d}. Manage your plan: https://{telcodom}/myaccount",
    "MEW: the meter reading for account {ref} is {kwh} kWh. Your bill is KWD {a}, see https://www.mew.gov.kw/ebill",
    "Jazeera Airways: booking {pnr} confirmed for {d} {t}. Boarding pass: https://www.jazeeraairways.com/checkin/{tok}",
    "{school}: term reports are published. Log in at https://{schooldom} to view them.",
    "{bank}: your finance application {ref} was approved. Review and accept the offer in the app: https://{bankdom}/finance/{tok}",
    "{app}: a password reset was requested. Reset it here: https://{appdom}/reset/{tok} (valid {m} min). Ignore this if it wasn't you.",
    "{shop}: the warranty for order {ref} is registered until {d}. Certificate: https://{shopdom}/w/{tok}",
    "{gov}: the fee of KWD {a} for request {ref} is due. Pay it through the Sahel app or https://{govdom}",
    "{insurer}: motor policy {ref} is issued. Download the policy document: https://{insdom}/p/{tok}",
    "{clinic}: lab report {ref} is available. Log in with your civil ID at https://{clinicdom}/results",
    "{bank}: you sent KWD {a} to {name} by WAMD. Receipt: https://{bankdom}/wamd/{tok}",
    "Booking {ref} at {hotel} confirmed for {d}. Manage your stay: https://{hoteldom}/booking/{tok}",
    "{telco_name}: your new SIM (order {ref}) ships today. Follow it at https://{telcodom}/track/{ref}",
    "Kuwait Municipality: permit {ref} is now Approved. See https://www.baladia.gov.kw for the next steps.",
    "{app}: your trip on {d} cost KWD {a}. Trip details: https://{appdom}/trips/{tok}",
    "{shop}: your subscription renews on {d} for KWD {a}. Cancel or change it at https://{shopdom}/account",
    "{bank}: cheque book for account {card} is ready at the {place} branch. Branch hours: https://{bankdom}/branches",
    "Your {insurer} claim {ref} was settled: KWD {a} paid to account {card}. Letter: https://{insdom}/claims/{tok}",
    "{insurer}: we received claim {ref} for vehicle {plate}. A surveyor will call you within 2 working days. Status: https://{insdom}/claims/{tok}",
    "{insurer}: medical claim {ref} for KWD {a} is approved and will be paid to account {card}.",
    "{shop}: warranty claim {ref} is registered. We will message you when the device is repaired.",
]
ar_link = [
    "{bank}: كشف حسابك لشهر {month_ar} متوفر الآن في التطبيق https://{bankdom}/app",
    "فاتورتك الإلكترونية رقم {ref} بمبلغ {a} د.ك جاهزة: https://{shopdom}/invoice/{tok}",
    "{courier}: شحنتك {trk} بانتظارك في نقطة الاستلام في {place}. الموقع: {url}{trk}",
    "{clinic}: تم تأكيد الموعد رقم {ref} يوم {d} الساعة {t}. التفاصيل: https://{clinicdom}/a/{tok}",
    "سهل: تمت الموافقة على طلبك رقم {ref}. التفاصيل في تطبيق سهل أو https://www.sahel.gov.kw",
    "وزارة الداخلية: سجلت مخالفة رقم {ref} على المركبة {plate} بتاريخ {d}. للاطلاع عبر تطبيق سهل أو https://www.moi.gov.kw",
    "{telco_ar}: فاتورة {month_ar} الإلكترونية ({a} د.ك) جاهزة. اعرضها على https://{telcodom}/ebill",
    "وزارة الكهرباء والماء: قراءة عداد الحساب {ref} هي {kwh} كيلوواط. الفاتورة {a} د.ك https://www.mew.gov.kw",
    "إيصال العملية {ref} بمبلغ {a} د.ك: https://{shopdom}/r/{tok}",
    "{shop}: كيف كان طلبك {ref}؟ قيّمه من هنا https://{shopdom}/feedback/{tok}",
    "الهيئة العامة للمعلومات المدنية: تم تحديث عنوان السكن للبطاقة {civ}. للتحقق https://www.paci.gov.kw",
    "{bank}: تمت الموافقة على طلب التمويل رقم {ref}. راجع العرض ووافق عليه في التطبيق https://{bankdom}/app",
    "طيران الجزيرة: الحجز {pnr} مؤكد يوم {d}. بطاقة الصعود: https://www.jazeeraairways.com/checkin",
    "{school_ar}: صدرت تقارير الفصل الدراسي. للاطلاع ادخل إلى https://{schooldom}",
    "{insurer_ar}: صدرت وثيقة التأمين رقم {ref}. تحميل الوثيقة https://{insdom}/p/{tok}",
    "{telco_ar}: شريحتك الجديدة (الطلب {ref}) في الطريق. تتبعها على https://{telcodom}/track/{ref}",
    "{bank}: حولت {a} د.ك إلى {name} عبر ومض. الإيصال https://{bankdom}/wamd/{tok}",
    "{gov_ar}: رسوم الطلب {ref} بقيمة {a} د.ك مستحقة. السداد عبر تطبيق سهل أو https://{govdom}",
    "{insurer_ar}: استلمنا المطالبة رقم {ref}. لمتابعة حالتها https://{insdom}/claims/{tok}",
]
bad_domains = [
    "kfh-secure-login.com",
    "nbk-verify.net",
    "knet-payment-kw.com",
    "bit.ly/3xKq9Zp",
    "tinyurl.com/kw-refund",
    "zain-bonus.online",
    "ooredoo-gift.xyz",
    "aramex-kw-delivery.top",
    "dhl-parcel-fee.info",
    "kuwaitpost-track.site",
    "moi-kw-fines.com",
    "paci-update.live",
    "secure-bank-kw.click",
    "rb.gy/k9x2p",
    "cutt.ly/wQ7z",
    "apple-id-support.help",
    "t.ly/refund",
    "kw-customs-pay.com",
    "kwpost-redelivery.com",
    "sahel-kw.online",
    "moi-gov-kw.com",
    "knet-secure-pay.net",
    "kw-refund-portal.com",
    "paci-kw.info",
]
en_scam = [
    "Your {bank} account has been suspended due to unusual activity. Verify now at http://{bad} to avoid closure.",
    "{bank}: your card {card} is blocked. To unblock, update your details at {bad} within 24 hours.",
    "KNET: Your payment failed. Update your card at {bad} to complete the transaction.",
    "{courier}: your parcel is held at customs. Pay KWD 1.250 fee at {bad} to release it.",
    "Your package could not be delivered due to an incomplete address. Update here: {bad}",
    "Congratulations! Your number won KWD {big} in the {brand} anniversary draw. Claim at {bad}",
    "You have won an iPhone 17! Reply YES and pay the delivery charge at {bad}",
    "URGENT: Ministry of Interior: you have an unpaid traffic fine of KWD 75. Pay today at {bad} to avoid a travel ban.",
    "Dear customer, your {brand} points worth KWD {a} expire today. Redeem now: {bad}",
    "Earn KWD 300 a day working from home! Part-time job, no experience. WhatsApp +{ph}",
    "Invest KWD 100 and get KWD 1,000 in one week with our crypto trading bot. Join: {bad}",
    "Get an instant loan of up to KWD 10,000 without salary transfer. Apply now {bad}",
    "Final notice: your Apple ID will be disabled. Confirm your information at {bad}",
    "Hi mum, I lost my phone, this is my new number. Can you send me KWD 200 urgently? I'll explain later.",
    "Your {brand} bill refund of KWD {a} is waiting. Enter your card details at {bad} to receive it.",
    "FREE 50GB data from {brand}! Click {bad} and share with 10 friends to activate.",
    "Hot singles near you want to meet tonight. Sign up free at {bad}",
    "Your PACI civil ID must be updated or it will be cancelled. Update: {bad}",
    "Limited offer!!! Rolex watches 90% OFF, today only. Order: {bad}",
    "You have a pending transfer of KWD {big}. Call +{ph} to release the funds.",
    "{bank} security: we detected a login from Russia. If this was not you, secure your account at {bad}",
    "Your {brand} SIM will be deactivated today. Verify your civil ID at {bad} to keep your number.",
    "{courier}: Delivery attempt failed. Reschedule and pay KWD 0.500 at {bad}",
    "Tax refund: you are eligible for a refund of KWD {a}. Submit your card details at {bad}",
    "Your KNET card has been charged KWD {big}. If this was not you, cancel at {bad}",
    "WINNER! You have been selected for a KWD {big} cash prize. Call +{ph} now to claim!",
    "Dear {brand} customer, your account will be closed. Confirm your password here: {bad}",
    "Amazon: a suspicious order of KWD {a} was placed. Cancel it now at {bad}",
    "Make KWD 5,000 a month trading forex, guaranteed profit. Join our VIP group: {bad}",
    "Your OTP is {c}. Someone is trying to access your {bank} account. Cancel the request at {bad}",
    "Exclusive offer: 80% off all items, today only! Shop now {bad}. Reply STOP to opt out.",
    "You have 1 unread message from a secret admirer. Read it now at {bad}",
]
ar_scam = [
    "تم إيقاف حسابك في {bank} بسبب نشاط غير معتاد. قم بالتحديث فوراً عبر {bad}",
    "مبروك! فزت بمبلغ {big} د.ك في سحب {brand}. لاستلام الجائزة اضغط {bad}",
    "شحنتك محتجزة في الجمارك. ادفع رسوم 1.250 د.ك عبر الرابط {bad}",
    "لديك مخالفة مرورية غير مدفوعة. ادفع الآن لتجنب منع السفر {bad}",
    "قرض فوري حتى 10,000 د.ك بدون تحويل راتب. قدم الآن {bad}",
    "اربح 300 دينار يومياً من المنزل! تواصل واتساب +{ph}",
    "بطاقتك موقوفة. لإعادة التفعيل أدخل بياناتك في {bad}",
    "نقاطك في {brand} ستنتهي اليوم. استبدلها الآن {bad}",
    "عزيزي العميل سيتم إيقاف شريحتك اليوم. حدّث بياناتك عبر {bad}",
    "تعذر توصيل شحنتك. أعد الجدولة وادفع 0.500 د.ك عبر {bad}",
    "لديك استرداد ضريبي بقيمة {a} د.ك. أدخل بيانات بطاقتك في {bad}",
    "عرض حصري! خصم 80٪ على جميع المنتجات اليوم فقط {bad}",
    "استثمر 100 دينار واربح 1000 خلال أسبوع. انضم الآن {bad}",
]
# Today's link scams that imitate those notices (parcel fees, bank verification, fines).
en_scam_link = [
    "{courier}: parcel {trk} is on hold for an unpaid fee of KWD {small}. Pay within 24h: https://{bad}/{tok}",
    "Kuwait Post: we could not deliver your package, the address is incomplete. Confirm it and pay KWD {small}: https://{bad}",
    "{bank}: we have limited your account. Verify your identity to restore access: https://{bad}/verify",
    "{bank} alert: a transfer of KWD {big} is pending. If you did not make it, cancel it here https://{bad}",
    "MOI: a traffic fine of KWD {fine} is registered on your civil ID. Pay before {d} to avoid legal action: https://{bad}",
    "Sahel: your civil ID expires soon. Renew it now to avoid a KWD 20 penalty: https://{bad}",
    "{brand}: you are eligible for a refund of KWD {a}. Claim it within 24 hours: https://{bad}/{tok}",
    "KNET: your payment of KWD {a} was declined. Re-enter your card details to avoid suspension: https://{bad}",
    "{telco_name}: your line has unpaid dues of KWD {a} and will be cut off today. Settle here https://{bad}",
    "Customs: a shipment in your name is held. Pay the clearance fee of KWD {small} at https://{bad}/{tok}",
    "Your {bank} reward points ({pts}) expire tonight. Convert them to cash: https://{bad}",
    "MOH: you qualify for a health allowance. Register your bank card at https://{bad}",
    "{bank}: your card {card} will be frozen today. Update your civil ID details at https://{bad} to keep using it.",
    "{courier}: final attempt for parcel {trk}. Choose a delivery time and pay KWD {small} redelivery: https://{bad}",
]
ar_scam_link = [
    "{courier}: شحنتك {trk} معلقة بسبب رسوم غير مدفوعة بقيمة {small} د.ك. ادفع خلال 24 ساعة https://{bad}",
    "وزارة الداخلية: عليك مخالفة بقيمة {fine} د.ك. ادفعها قبل {d} لتجنب الإجراءات القانونية https://{bad}",
    "{bank}: تم تقييد حسابك. تحقق من هويتك لإعادة التفعيل https://{bad}/verify",
    "سهل: بطاقتك المدنية على وشك الانتهاء. جددها الآن لتجنب غرامة 20 د.ك https://{bad}",
    "كي نت: تم رفض عملية الدفع. أعد إدخال بيانات بطاقتك لتجنب الإيقاف https://{bad}",
    "لديك مبلغ مسترد بقيمة {a} د.ك. اطلبه خلال 24 ساعة عبر https://{bad}/{tok}",
    "{telco_ar}: سيتم فصل خطك اليوم لوجود مستحقات بقيمة {a} د.ك. ادفع الآن https://{bad}",
    "الجمارك: شحنة باسمك محتجزة. ادفع رسوم التخليص {small} د.ك عبر https://{bad}",
]

brands = ["Zain", "Ooredoo", "STC", "Talabat", "Xcite", "Lulu", "KNET"]


def fill(t):
    # Each kind's brand is drawn once: its names and its site come from the same row.
    courier, url = R.choice(couriers)
    app, appdom = brand(apps, t, "appdom")
    merchant, merchantdom = brand(merchants, t, "merchantdom")
    bank, bankdom = brand(banks, t, "bankdom")
    clinic, clinicdom = brand(clinics, t, "clinicdom")
    telco_name, telco_ar, telcodom = brand(telcos, t, "telcodom")
    gov, gov_ar, govdom = brand(government, t, "govdom")
    shop, shopdom = brand(shops, t, "shopdom")
    school, school_ar, schooldom = brand(schools, t, "schooldom")
    insurer, insurer_ar, insdom = brand(insurers, t, "insdom")
    hotel, hoteldom = brand(hotels, t, "hoteldom")
    return t.format(
        app=app,
        appdom=appdom,
        merchant=merchant,
        merchantdom=merchantdom,
        bank=bank,
        bankdom=bankdom,
        clinic=clinic,
        clinicdom=clinicdom,
        telco_name=telco_name,
        telco_ar=telco_ar,
        telcodom=telcodom,
        gov=gov,
        gov_ar=gov_ar,
        govdom=govdom,
        shop=shop,
        shopdom=shopdom,
        school=school,
        school_ar=school_ar,
        schooldom=schooldom,
        insurer=insurer,
        insurer_ar=insurer_ar,
        insdom=insdom,
        hotel=hotel,
        hoteldom=hoteldom,
        c=code(),
        m=minutes(),
        a=amount(),
        a2=amount(),
        card=card(),
        d=date(),
        t=time_(),
        hot=R.choice(["1801801", "1803333", "1805805", "1888222"]),
        name=R.choice(["AHMAD ALI", "FATIMA H.", "M. ALSABAH", "SARA K."]),
        ref=code(8),
        place=R.choice(["Salmiya", "Hawally", "Fahaheel", "Jahra", "Avenues"]),
        courier=courier,
        url=url,
        trk=code(10),
        fl=code(3),
        bad=R.choice(bad_domains),
        big=R.choice(["5,000", "10,000", "25,000", "1,000"]),
        brand=R.choice(brands),
        ph="965" + code(8),
        hash=R.choice(["FA+9qCX9VSu", "kq3Xz8Lm2Pa", ""]),
        c3=code(3),
        c3b=code(3),
        t2=time_(),
        first=R.choice(["Ahmed", "Ravi", "Mohammed", "Jose", "Ali"]),
        ph8=code(4) + " " + code(4),
        pct=R.choice([50, 80, 90, 100]),
        gb=R.choice([10, 25, 50, 100]),
        device=R.choice(["iPhone", "Android phone", "Windows PC", "Mac"]),
        tok="".join(
            R.choice("abcdefghjkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789")
            for _ in range(R.randint(5, 9))
        ),
        govservice=R.choice(
            [
                "renew your residency",
                "transfer a vehicle's ownership",
                "issue a salary certificate",
                "renew your driving licence",
            ]
        ),
        plate=f"{R.randint(1, 99)}/{code(5)}",
        civ=code(12),
        kwh=R.randint(150, 4200),
        pnr="".join(R.choice("ABCDEFGHJKLMNPQRSTUVWXYZ") for _ in range(6)),
        small=R.choice(["0.350", "0.750", "1.250", "2.100"]),
        fine=R.choice(["15", "30", "45", "75"]),
        pts=R.choice(["12,500", "8,000", "25,000"]),
        month=R.choice(["October", "November", "December", "January"]),
        month_ar=R.choice(["أكتوبر", "نوفمبر", "ديسمبر", "يناير"]),
    ).strip()


def main():
    # Each message carries the name of its template (its group): cross-validation keeps a
    # template's messages in one fold, so that a message is scored by a model that never saw
    # its template (secgate.spam_model.train.supplement_folds).
    for name, templates, n, out in (
        ("en_otp", en_otp, 200, ham),
        ("ar_otp", ar_otp, 90, ham),
        ("en_bank", en_bank, 260, ham),
        ("ar_bank", ar_bank, 110, ham),
        ("en_delivery", en_delivery, 120, ham),
        ("ar_delivery", ar_delivery, 60, ham),
        ("en_misc", en_misc, 330, ham),
        ("ar_misc", ar_misc, 120, ham),
        ("en_scam", en_scam, 320, spam),
        ("ar_scam", ar_scam, 120, spam),
        ("en_link", en_link, 300, ham),
        ("ar_link", ar_link, 170, ham),
        ("en_scam_link", en_scam_link, 140, spam),
        ("ar_scam_link", ar_scam_link, 80, spam),
    ):
        seen: dict[str, str] = {}
        while len(seen) < n:
            index = R.randrange(len(templates))
            seen.setdefault(fill(templates[index]), f"{name}.{index}")
        out.extend(sorted((group, text) for text, group in seen.items()))
    with open(Path(__file__).with_name("supplement.txt"), "w", encoding="utf-8") as f:
        for group, text in ham:
            f.write(f"ham\t{group}\t{text}\n")
        for group, text in spam:
            f.write(f"spam\t{group}\t{text}\n")
    print(len(ham), len(spam))


if __name__ == "__main__":  # imported, it only offers its tables (tests read the brands)
    main()
