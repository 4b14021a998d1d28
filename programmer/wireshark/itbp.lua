-- ITBP (intrathecal pump telemetry protocol) dissector for Wireshark.
-- GENERATED from protocol/catalog.py by docs/tools/wireshark_lua.py: do not edit; run
-- docs/tools/regen_wireshark.py.  Load it with:
--   wireshark -X lua_script:itbp.lua capture.pcapng     (or copy it to the personal plugins folder)
-- Packets: one COBS run with its 0x00 delimiter per packet, link type USER0 (147).
-- Direction: pcapng epb_flags (1 inbound = from the pump, 2 outbound = to the pump).
-- Tags are shown, not verified: a capture does not carry the session keys.

local PROTOCOL_VERSION = 1
local HEADER_SIZE = 7
local AUTH_PREFIX_SIZE = 12
local TAG_SIZE = 16
local CRC_SIZE = 4
local MAX_PAYLOAD = 1024
local LINKTYPE = 147
local FLAG_AUTH = 1
local FLAG_RESPONSE = 2
local FLAG_EVENT = 4
local FLAG_MORE = 8

local VS_MSGTYPE = { [1] = "HELLO", [2] = "PAIR_BEGIN", [3] = "PAIR_CONFIRM", [4] = "SESSION_OPEN", [5] = "SESSION_CLOSE", [6] = "UNPAIR", [7] = "PAIRINGS_LIST", [8] = "PATIENT_PAIRING_AUTHORIZE", [16] = "STATUS", [17] = "READ_PRESCRIPTION", [18] = "STAGE_PRESCRIPTION", [19] = "COMMIT_PRESCRIPTION", [20] = "ABORT_PRESCRIPTION", [21] = "REFILL", [22] = "PATIENT_BOLUS_CONFIG", [23] = "PATIENT_BOLUS_REQUEST", [24] = "STOP", [25] = "RESUME", [26] = "SET_CLOCK", [27] = "DEVICE_LIMITS", [32] = "ALARMS_READ", [33] = "ALARMS_ACK", [34] = "ALARMS_TEST", [35] = "ALARMS_CONFIG", [48] = "LOG_INFO", [49] = "LOG_READ", [64] = "TELEMETRY_SUBSCRIBE", [65] = "TELEMETRY", [66] = "ALARM_EVENT", [80] = "REQUEST_STATUS", [29] = "STAGE_REFILL", [30] = "COMMIT_REFILL" }
local VS_ERRORCODE = { [0] = "OK", [1] = "UNSUPPORTED_VERSION", [2] = "MALFORMED_PAYLOAD", [3] = "UNKNOWN_MESSAGE", [4] = "BAD_FLAGS", [5] = "FRAME_TOO_LARGE", [6] = "WRONG_DIRECTION", [16] = "NOT_AUTHENTICATED", [17] = "BAD_TAG", [18] = "REPLAYED_COUNTER", [19] = "UNKNOWN_SESSION", [20] = "ROLE_NOT_PERMITTED", [21] = "PAIRING_WINDOW_CLOSED", [22] = "PAIRING_LOCKED_OUT", [23] = "PAIRING_FAILED", [24] = "UNKNOWN_KEY", [25] = "NO_PAIRING_IN_PROGRESS", [26] = "KEY_STORE_FULL", [27] = "PAIRING_BUSY", [28] = "PAIRING_AWAITING_CONFIRMATION", [29] = "PAIRING_REJECTED", [30] = "PATIENT_PAIRING_NOT_AUTHORIZED", [32] = "NOTHING_STAGED", [33] = "STALE_VERSION", [34] = "HASH_MISMATCH", [35] = "WARNINGS_NOT_ACKNOWLEDGED", [36] = "BUSY", [37] = "REQUEST_ID_REUSED", [38] = "REQUEST_INTERRUPTED", [39] = "REQUEST_EVICTED", [40] = "PROGRAMMER_HEAD_AWAY", [48] = "DOSE_ABOVE_HARD_LIMIT", [49] = "RATE_ABOVE_MAXIMUM", [50] = "RATE_BELOW_MINIMUM", [51] = "CONCENTRATION_NOT_IN_LIBRARY", [52] = "INVALID_SCHEDULE", [53] = "BOLUS_ABOVE_LIMIT", [54] = "BOLUS_DURATION_INVALID", [55] = "REFILL_OVER_CAPACITY", [56] = "REFILL_VOLUME_INVALID", [57] = "PATIENT_BOLUS_NOT_CONFIGURED", [58] = "PATIENT_BOLUS_LOCKOUT", [59] = "PATIENT_BOLUS_DAILY_MAXIMUM", [60] = "RESERVOIR_EMPTY", [61] = "BOLUS_IN_PROGRESS", [62] = "PUMP_NOT_FILLED", [63] = "END_OF_SERVICE", [64] = "MOTOR_FAULT", [65] = "CLOCK_INVALID", [66] = "ALARM_CONFIG_OUT_OF_RANGE", [67] = "UNKNOWN_LOG", [68] = "INVALID_ARGUMENT", [69] = "NOT_STOPPED", [70] = "NO_BRIDGE_NEEDED", [71] = "THERAPY_NOT_RUNNING", [76] = "CATHETER_UNKNOWN", [96] = "INTERNAL_ERROR", [97] = "MEMORY_ERROR" }
local VS_ALARMID = { [1] = "LOW_RESERVOIR", [2] = "RESERVOIR_EMPTY", [3] = "ELECTIVE_REPLACEMENT", [4] = "END_OF_SERVICE", [5] = "MOTOR_STALL", [6] = "LOW_BATTERY_RESET", [7] = "MEMORY_ERROR", [8] = "PUMP_STOPPED", [9] = "REFILL_REMINDER" }
local VS_CAPABILITY = { [1] = "PAIRING", [2] = "FLEX", [4] = "PATIENT_BOLUS", [8] = "TELEMETRY", [16] = "LOG_STREAM", [32] = "BRIDGE_BOLUS", [64] = "PRIMING_BOLUS", [2147483648] = "INSECURE_TEST_KEYS" }
local VS_CHANGEKIND = { [0] = "STOPPED", [1] = "CONTINUOUS", [2] = "FLEX", [3] = "SINGLE_BOLUS", [4] = "PRIMING_BOLUS", [5] = "BRIDGE_BOLUS" }
local VS_LOGEVENT = { [1] = "RESET", [2] = "THERAPY_CHANGED", [3] = "BOLUS_STARTED", [4] = "BOLUS_COMPLETED", [5] = "REFILL", [6] = "PUMP_STOPPED", [7] = "PUMP_RESUMED", [8] = "CLOCK_CHANGED", [9] = "PATIENT_BOLUS_CONFIGURED", [10] = "PATIENT_BOLUS_REFUSED", [11] = "SAFE_MINIMUM_ENTERED", [12] = "DAILY_TOTAL", [13] = "UTC_OFFSET_CHANGED", [20] = "MOTOR_STALLED", [21] = "MOTOR_RECOVERED", [22] = "BRIDGE_SKIPPED", [23] = "CATHETER_SET", [32] = "ALARM_RAISED", [33] = "ALARM_CLEARED", [34] = "ALARM_ACKNOWLEDGED", [35] = "ALARM_TEST", [36] = "ALARM_CONFIG_CHANGED", [64] = "PAIRED", [65] = "UNPAIRED", [66] = "SESSION_OPENED", [67] = "AUTH_FAILURE", [68] = "PAIRING_REFUSED", [69] = "LOCKOUT_STARTED", [70] = "REQUEST_REFUSED", [71] = "NVM_RECOVERED", [72] = "REJECTIONS_SUPPRESSED", [80] = "PAIRING_REJECTED", [81] = "PATIENT_PAIRING_AUTHORIZED", [82] = "WRITE_ACCEPTED" }
local VS_LOGID = { [1] = "THERAPY", [2] = "ALARM", [3] = "AUDIT", [4] = "DAILY" }
local VS_REFILLFLAG = { [1] = "DISCREPANCY_WARNING", [2] = "CONCENTRATION_CHANGED", [4] = "BRIDGE_INCLUDED", [8] = "BRIDGE_SKIPPED" }
local VS_REQUESTSTATE = { [0] = "UNKNOWN", [1] = "COMPLETED", [2] = "INTERRUPTED", [3] = "IN_PROGRESS", [4] = "EVICTED" }
local VS_ROLE = { [1] = "CLINICIAN", [2] = "PATIENT" }
local VS_STAGEWARNING = { [1] = "SOFT_DOSE_LIMIT", [2] = "TITRATION_INCREASE_OVER_LIMIT", [4] = "SECOND_INCREASE_WITHIN_24H", [8] = "CONCENTRATION_CHANGED_NEEDS_BRIDGE", [16] = "LOW_RESERVOIR_SOON", [32] = "PRIME_INTO_FULL_CATHETER" }
local VS_THERAPYMODE = { [0] = "STOPPED", [1] = "CONTINUOUS", [2] = "FLEX", [3] = "SINGLE_BOLUS", [4] = "PRIMING_BOLUS", [5] = "BRIDGE_BOLUS", [6] = "PATIENT_BOLUS", [7] = "SAFE_MINIMUM" }

local F = {}
F[1] = ProtoField.string("itbp.hello.reply.model", "model", base.UNICODE, "device model, e.g. VP-20")
F[2] = ProtoField.string("itbp.hello.reply.serial_number", "serial_number", base.UNICODE, "ASCII; bound into the pairing transcript")
F[3] = ProtoField.string("itbp.hello.reply.firmware_version", "firmware_version", base.UNICODE, "free text, e.g. 1.0.0")
F[4] = ProtoField.uint8("itbp.hello.reply.protocol_min", "protocol_min", base.DEC, nil, nil, "lowest protocol version spoken")
F[5] = ProtoField.uint8("itbp.hello.reply.protocol_max", "protocol_max", base.DEC, nil, nil, "highest protocol version spoken")
F[6] = ProtoField.uint16("itbp.hello.reply.max_payload", "max_payload", base.DEC, nil, nil, "largest payload the pump accepts and sends (bytes)")
F[7] = ProtoField.uint32("itbp.hello.reply.capabilities", "capabilities", base.HEX, nil, nil, "Capability bits")
F[8] = ProtoField.bool("itbp.hello.reply.pairing_window_open", "pairing_window_open", base.NONE, nil, nil, "true while the wand window is open (pairing possible)")
F[9] = ProtoField.uint8("itbp.hello.reply.paired_keys", "paired_keys", base.DEC, nil, nil, "number of stored pairings")
F[10] = ProtoField.none("itbp.hello.reply.messages", "messages", "MsgType of every request the pump answers")
F[11] = ProtoField.uint8("itbp.hello.reply.messages.item", "messages", base.DEC, nil, nil, "MsgType of every request the pump answers")
F[12] = ProtoField.uint8("itbp.pair_begin.request.role", "role", base.DEC, VS_ROLE, nil, "Role")
F[13] = ProtoField.bytes("itbp.pair_begin.request.programmer_public", "programmer_public", base.NONE, "X25519 public key A")
F[14] = ProtoField.bytes("itbp.pair_begin.request.programmer_nonce", "programmer_nonce", base.NONE, "16 random bytes from the programmer")
F[15] = ProtoField.uint64("itbp.pair_begin.request.programmer_id", "programmer_id", base.DEC, nil, nil, "random u64 naming the programmer (kept in its key store); a new pairing with the same non-zero id replaces that programmer's key; 0 = anonymous")
F[16] = ProtoField.bytes("itbp.pair_begin.reply.device_public", "device_public", base.NONE, "X25519 public key B")
F[17] = ProtoField.bytes("itbp.pair_begin.reply.device_nonce", "device_nonce", base.NONE, "16 random bytes from the pump")
F[18] = ProtoField.bytes("itbp.pair_confirm.request.programmer_proof", "programmer_proof", base.NONE, "HMAC-SHA256(confirm_key, 'programmer' || th)[:16]")
F[19] = ProtoField.uint32("itbp.pair_confirm.reply.key_id", "key_id", base.DEC, nil, nil, "31-bit pairing key id")
F[20] = ProtoField.bytes("itbp.pair_confirm.reply.device_proof", "device_proof", base.NONE, "the pump's proof (see the message)")
F[21] = ProtoField.uint32("itbp.session_open.request.key_id", "key_id", base.DEC, nil, nil, "31-bit pairing key id")
F[22] = ProtoField.bytes("itbp.session_open.request.programmer_nonce", "programmer_nonce", base.NONE, "16 random bytes from the programmer")
F[23] = ProtoField.uint32("itbp.session_open.reply.session_id", "session_id", base.HEX, nil, nil, "random, non-zero; appears in the header of every session frame")
F[24] = ProtoField.bytes("itbp.session_open.reply.device_nonce", "device_nonce", base.NONE, "16 random bytes from the pump")
F[25] = ProtoField.bytes("itbp.session_open.reply.device_proof", "device_proof", base.NONE, "the pump's proof (see the message)")
F[26] = ProtoField.uint8("itbp.session_open.reply.role", "role", base.DEC, VS_ROLE, nil, "Role")
F[27] = ProtoField.uint32("itbp.unpair.request.request_id", "request_id", base.DEC, nil, nil, "idempotency key chosen by the programmer, non-zero; the same on every resend after a lost reply, a new one for a new attempt")
F[28] = ProtoField.uint32("itbp.unpair.request.key_id", "key_id", base.DEC, nil, nil, "31-bit pairing key id")
F[29] = ProtoField.uint8("itbp.pairings_list.reply.max_pairings", "max_pairings", base.DEC, nil, nil, "pairing keys the pump can hold")
F[30] = ProtoField.none("itbp.pairings_list.reply.pairings", "pairings", "the stored pairing keys, one entry each")
F[31] = ProtoField.uint32("itbp.pairings_list.reply.pairings.key_id", "key_id", base.DEC, nil, nil, "31-bit pairing key id")
F[32] = ProtoField.uint8("itbp.pairings_list.reply.pairings.role", "role", base.DEC, VS_ROLE, nil, "Role")
F[33] = ProtoField.uint64("itbp.pairings_list.reply.pairings.programmer_id", "programmer_id", base.DEC, nil, nil, "random u64 naming the programmer (kept in its key store); a new pairing with the same non-zero id replaces that programmer's key; 0 = anonymous")
F[34] = ProtoField.uint32("itbp.pairings_list.reply.pairings.paired_time", "paired_time", base.DEC, nil, nil, "pump time (s) the key was stored; 0 = before the pump recorded it")
F[35] = ProtoField.uint32("itbp.patient_pairing_authorize.request.request_id", "request_id", base.DEC, nil, nil, "idempotency key chosen by the programmer, non-zero; the same on every resend after a lost reply, a new one for a new attempt")
F[36] = ProtoField.uint32("itbp.patient_pairing_authorize.reply.valid_until_time", "valid_until_time", base.DEC, nil, nil, "pump time (s) until which one patient pairing may begin")
F[37] = ProtoField.uint32("itbp.status.reply.pump_time", "pump_time", base.DEC, nil, nil, "pump time: s since 1970-01-01T00:00:00 UTC (the clinic's local time is pump_time + utc_offset_s)")
F[38] = ProtoField.uint8("itbp.status.reply.mode", "mode", base.DEC, VS_THERAPYMODE, nil, "TherapyMode")
F[39] = ProtoField.uint32("itbp.status.reply.prescription_version", "prescription_version", base.DEC, nil, nil, "version of the active prescription (increments on every commit)")
F[40] = ProtoField.uint32("itbp.status.reply.daily_dose_ng", "daily_dose_ng", base.DEC, nil, nil, "ng/day")
F[41] = ProtoField.uint32("itbp.status.reply.rate_nl_per_day", "rate_nl_per_day", base.DEC, nil, nil, "nL/day")
F[42] = ProtoField.uint16("itbp.status.reply.concentration_mcg_per_ml", "concentration_mcg_per_ml", base.DEC, nil, nil, "mcg/mL; 0 until the first fill")
F[43] = ProtoField.uint32("itbp.status.reply.reservoir_nl", "reservoir_nl", base.DEC, nil, nil, "nL")
F[44] = ProtoField.uint32("itbp.status.reply.reservoir_capacity_nl", "reservoir_capacity_nl", base.DEC, nil, nil, "nL")
F[45] = ProtoField.uint32("itbp.status.reply.low_reservoir_nl", "low_reservoir_nl", base.DEC, nil, nil, "nL")
F[46] = ProtoField.uint32("itbp.status.reply.low_reservoir_time", "low_reservoir_time", base.DEC, nil, nil, "pump time: s since 1970-01-01T00:00:00 UTC; 0 = none")
F[47] = ProtoField.uint32("itbp.status.reply.empty_time", "empty_time", base.DEC, nil, nil, "pump time: s since 1970-01-01T00:00:00 UTC; 0 = none")
F[48] = ProtoField.uint32("itbp.status.reply.battery_ppm", "battery_ppm", base.DEC, nil, nil, "remaining battery charge, parts per million")
F[49] = ProtoField.uint32("itbp.status.reply.eri_time", "eri_time", base.DEC, nil, nil, "pump time: s since 1970-01-01T00:00:00 UTC; 0 = none")
F[50] = ProtoField.uint32("itbp.status.reply.eos_time", "eos_time", base.DEC, nil, nil, "pump time: s since 1970-01-01T00:00:00 UTC; 0 = none")
F[51] = ProtoField.uint32("itbp.status.reply.replace_by_time", "replace_by_time", base.DEC, nil, nil, "pump time: s since 1970-01-01T00:00:00 UTC; 0 = none")
F[52] = ProtoField.uint64("itbp.status.reply.delivered_ng", "delivered_ng", base.DEC, nil, nil, "ng")
F[53] = ProtoField.uint64("itbp.status.reply.delivered_nl", "delivered_nl", base.DEC, nil, nil, "nL")
F[54] = ProtoField.uint64("itbp.status.reply.strokes", "strokes", base.DEC, nil, nil, "motor strokes since manufacture")
F[55] = ProtoField.uint8("itbp.status.reply.bolus_mode", "bolus_mode", base.DEC, VS_THERAPYMODE, nil, "TherapyMode: of the running bolus: SINGLE_BOLUS, PRIMING_BOLUS or BRIDGE_BOLUS (the basal pauses while it runs) or PATIENT_BOLUS (on top of the basal); 0 = no bolus running (0 is never a bolus mode here, although TherapyMode 0 is STOPPED: read `mode` for that)")
F[56] = ProtoField.uint32("itbp.status.reply.bolus_remaining_ng", "bolus_remaining_ng", base.DEC, nil, nil, "ng")
F[57] = ProtoField.uint32("itbp.status.reply.bolus_end_time", "bolus_end_time", base.DEC, nil, nil, "pump time: s since 1970-01-01T00:00:00 UTC; 0 = none")
F[58] = ProtoField.uint32("itbp.status.reply.critical_interval_s", "critical_interval_s", base.DEC, nil, nil, "s (duration)")
F[59] = ProtoField.bool("itbp.status.reply.patient_bolus_enabled", "patient_bolus_enabled", base.NONE, nil, nil, "patient bolus configured and enabled")
F[60] = ProtoField.none("itbp.status.reply.alarms", "alarms", "active alarms")
F[61] = ProtoField.uint8("itbp.status.reply.alarms.alarm", "alarm", base.DEC, VS_ALARMID, nil, "AlarmId")
F[62] = ProtoField.bool("itbp.status.reply.alarms.critical", "critical", base.NONE, nil, nil, "true for a critical alarm (two-tone; drug no longer flowing as programmed)")
F[63] = ProtoField.bool("itbp.status.reply.alarms.acknowledged", "acknowledged", base.NONE, nil, nil, "true once acknowledged (silenced)")
F[64] = ProtoField.uint32("itbp.status.reply.alarms.raised_at", "raised_at", base.DEC, nil, nil, "pump time (s) the alarm was raised")
F[65] = ProtoField.uint32("itbp.status.reply.alarms.silenced_until", "silenced_until", base.DEC, nil, nil, "pump time (s) until which the tone is silenced; 0 = sounding")
F[66] = ProtoField.bool("itbp.status.reply.delivering", "delivering", base.NONE, nil, nil, "true while drug reaches the patient: false when stopped, halted or the reservoir is empty (the motor may still run at the safe minimum, pushing no drug)")
F[67] = ProtoField.uint32("itbp.status.reply.patient_bolus_dose_ng", "patient_bolus_dose_ng", base.DEC, nil, nil, "ng")
F[68] = ProtoField.uint32("itbp.status.reply.patient_bolus_duration_s", "patient_bolus_duration_s", base.DEC, nil, nil, "s (duration)")
F[69] = ProtoField.uint8("itbp.status.reply.patient_bolus_max_per_day", "patient_bolus_max_per_day", base.DEC, nil, nil, "patient boluses allowed per rolling 24 h")
F[70] = ProtoField.uint32("itbp.status.reply.patient_bolus_lockout_s", "patient_bolus_lockout_s", base.DEC, nil, nil, "s (duration)")
F[71] = ProtoField.uint8("itbp.status.reply.patient_boluses_given", "patient_boluses_given", base.DEC, nil, nil, "patient boluses granted in the rolling 24 h")
F[72] = ProtoField.uint8("itbp.status.reply.patient_boluses_refused", "patient_boluses_refused", base.DEC, nil, nil, "patient-bolus requests refused in the rolling 24 h")
F[73] = ProtoField.uint8("itbp.status.reply.patient_boluses_left", "patient_boluses_left", base.DEC, nil, nil, "patient boluses still allowed in the rolling 24 h")
F[74] = ProtoField.uint32("itbp.status.reply.patient_bolus_lockout_end_time", "patient_bolus_lockout_end_time", base.DEC, nil, nil, "pump time: s since 1970-01-01T00:00:00 UTC; 0 = none")
F[75] = ProtoField.uint32("itbp.status.reply.day_total_mon_ng", "day_total_mon_ng", base.DEC, nil, nil, "ng")
F[76] = ProtoField.uint32("itbp.status.reply.day_total_tue_ng", "day_total_tue_ng", base.DEC, nil, nil, "ng")
F[77] = ProtoField.uint32("itbp.status.reply.day_total_wed_ng", "day_total_wed_ng", base.DEC, nil, nil, "ng")
F[78] = ProtoField.uint32("itbp.status.reply.day_total_thu_ng", "day_total_thu_ng", base.DEC, nil, nil, "ng")
F[79] = ProtoField.uint32("itbp.status.reply.day_total_fri_ng", "day_total_fri_ng", base.DEC, nil, nil, "ng")
F[80] = ProtoField.uint32("itbp.status.reply.day_total_sat_ng", "day_total_sat_ng", base.DEC, nil, nil, "ng")
F[81] = ProtoField.uint32("itbp.status.reply.day_total_sun_ng", "day_total_sun_ng", base.DEC, nil, nil, "ng")
F[82] = ProtoField.int32("itbp.status.reply.utc_offset_s", "utc_offset_s", base.DEC, nil, nil, "s: the clinic's local time minus UTC, set with the clock (UTC+01:00 = 3600, UTC-05:00 = -18000; 0 for a pump never told its zone); flex steps and the midnight of the daily totals run on local time; SET_CLOCK accepts -43200..50400 in quarter hours (CLOCK_INVALID)")
F[83] = ProtoField.uint16("itbp.status.reply.clock_drift_warning_s", "clock_drift_warning_s", base.DEC, nil, nil, "s: a programmer warns when the pump's local time differs from its own local time by more than this (profile [clock] drift_warning_s): a drifting clock or a daylight-saving change")
F[84] = ProtoField.uint32("itbp.status.reply.projected_replace_by_time", "projected_replace_by_time", base.DEC, nil, nil, "pump time: s since 1970-01-01T00:00:00 UTC; 0 = none")
F[85] = ProtoField.uint16("itbp.status.reply.catheter_length_mm", "catheter_length_mm", base.DEC, nil, nil, "mm: the implanted catheter's length; 0xFFFF = the one the pump knows (request) or unknown (reply)")
F[86] = ProtoField.uint32("itbp.read_prescription.reply.version", "version", base.DEC, nil, nil, "prescription version")
F[87] = ProtoField.uint16("itbp.read_prescription.reply.concentration_mcg_per_ml", "concentration_mcg_per_ml", base.DEC, nil, nil, "mcg/mL; 0 until the first fill")
F[88] = ProtoField.none("itbp.read_prescription.reply.therapy", "therapy", "")
F[89] = ProtoField.uint8("itbp.read_prescription.reply.therapy.kind", "kind", base.DEC, VS_CHANGEKIND, nil, "ChangeKind")
F[90] = ProtoField.uint32("itbp.read_prescription.reply.therapy.params.continuous.daily_dose_ng", "daily_dose_ng", base.DEC, nil, nil, "ng/day")
F[91] = ProtoField.none("itbp.read_prescription.reply.therapy.params.flex.day_programs", "day_programs", "1-7 day programs, each used by a weekday; 1-13 steps, start_minute strictly increasing from 0")
F[92] = ProtoField.none("itbp.read_prescription.reply.therapy.params.flex.day_programs.item", "day_programs[]", "one day program: its steps (step i runs until step i+1 starts)")
F[93] = ProtoField.uint16("itbp.read_prescription.reply.therapy.params.flex.day_programs.item.start_minute", "start_minute", base.DEC, nil, nil, "minutes after the clinic's local midnight (0-1439; local = UTC + utc_offset_s)")
F[94] = ProtoField.uint32("itbp.read_prescription.reply.therapy.params.flex.day_programs.item.daily_dose_ng", "daily_dose_ng", base.DEC, nil, nil, "ng/day")
F[95] = ProtoField.none("itbp.read_prescription.reply.therapy.params.flex.weekday_program", "weekday_program", "index into day_programs for Monday..Sunday")
F[96] = ProtoField.uint8("itbp.read_prescription.reply.therapy.params.flex.weekday_program.item", "weekday_program", base.DEC, nil, nil, "index into day_programs for Monday..Sunday")
F[97] = ProtoField.uint32("itbp.read_prescription.reply.therapy.params.single_bolus.dose_ng", "dose_ng", base.DEC, nil, nil, "ng per bolus")
F[98] = ProtoField.uint32("itbp.read_prescription.reply.therapy.params.single_bolus.duration_s", "duration_s", base.DEC, nil, nil, "s (duration)")
F[99] = ProtoField.uint16("itbp.read_prescription.reply.therapy.params.priming_bolus.catheter_length_mm", "catheter_length_mm", base.DEC, nil, nil, "mm: the implanted catheter's length; 0xFFFF = the one the pump knows (request) or unknown (reply)")
F[100] = ProtoField.uint16("itbp.read_prescription.reply.therapy.params.bridge_bolus.catheter_length_mm", "catheter_length_mm", base.DEC, nil, nil, "mm: the implanted catheter's length; 0xFFFF = the one the pump knows (request) or unknown (reply)")
F[101] = ProtoField.none("itbp.read_prescription.reply.patient_bolus", "patient_bolus", "")
F[102] = ProtoField.bool("itbp.read_prescription.reply.patient_bolus.enabled", "enabled", base.NONE, nil, nil, "patient bolus allowed")
F[103] = ProtoField.uint32("itbp.read_prescription.reply.patient_bolus.dose_ng", "dose_ng", base.DEC, nil, nil, "ng per bolus")
F[104] = ProtoField.uint32("itbp.read_prescription.reply.patient_bolus.duration_s", "duration_s", base.DEC, nil, nil, "s (duration)")
F[105] = ProtoField.uint8("itbp.read_prescription.reply.patient_bolus.max_per_day", "max_per_day", base.DEC, nil, nil, "patient boluses allowed per rolling 24 h")
F[106] = ProtoField.uint32("itbp.read_prescription.reply.patient_bolus.lockout_s", "lockout_s", base.DEC, nil, nil, "s (duration)")
F[107] = ProtoField.uint32("itbp.read_prescription.reply.low_reservoir_nl", "low_reservoir_nl", base.DEC, nil, nil, "nL")
F[108] = ProtoField.uint32("itbp.read_prescription.reply.critical_interval_s", "critical_interval_s", base.DEC, nil, nil, "s (duration)")
F[109] = ProtoField.uint32("itbp.stage_prescription.request.request_id", "request_id", base.DEC, nil, nil, "idempotency key chosen by the programmer, non-zero; the same on every resend after a lost reply, a new one for a new attempt")
F[110] = ProtoField.none("itbp.stage_prescription.request.change", "change", "")
F[111] = ProtoField.uint8("itbp.stage_prescription.request.change.kind", "kind", base.DEC, VS_CHANGEKIND, nil, "ChangeKind")
F[112] = ProtoField.uint32("itbp.stage_prescription.request.change.params.continuous.daily_dose_ng", "daily_dose_ng", base.DEC, nil, nil, "ng/day")
F[113] = ProtoField.none("itbp.stage_prescription.request.change.params.flex.day_programs", "day_programs", "1-7 day programs, each used by a weekday; 1-13 steps, start_minute strictly increasing from 0")
F[114] = ProtoField.none("itbp.stage_prescription.request.change.params.flex.day_programs.item", "day_programs[]", "one day program: its steps (step i runs until step i+1 starts)")
F[115] = ProtoField.uint16("itbp.stage_prescription.request.change.params.flex.day_programs.item.start_minute", "start_minute", base.DEC, nil, nil, "minutes after the clinic's local midnight (0-1439; local = UTC + utc_offset_s)")
F[116] = ProtoField.uint32("itbp.stage_prescription.request.change.params.flex.day_programs.item.daily_dose_ng", "daily_dose_ng", base.DEC, nil, nil, "ng/day")
F[117] = ProtoField.none("itbp.stage_prescription.request.change.params.flex.weekday_program", "weekday_program", "index into day_programs for Monday..Sunday")
F[118] = ProtoField.uint8("itbp.stage_prescription.request.change.params.flex.weekday_program.item", "weekday_program", base.DEC, nil, nil, "index into day_programs for Monday..Sunday")
F[119] = ProtoField.uint32("itbp.stage_prescription.request.change.params.single_bolus.dose_ng", "dose_ng", base.DEC, nil, nil, "ng per bolus")
F[120] = ProtoField.uint32("itbp.stage_prescription.request.change.params.single_bolus.duration_s", "duration_s", base.DEC, nil, nil, "s (duration)")
F[121] = ProtoField.uint16("itbp.stage_prescription.request.change.params.priming_bolus.catheter_length_mm", "catheter_length_mm", base.DEC, nil, nil, "mm: the implanted catheter's length; 0xFFFF = the one the pump knows (request) or unknown (reply)")
F[122] = ProtoField.uint16("itbp.stage_prescription.request.change.params.bridge_bolus.catheter_length_mm", "catheter_length_mm", base.DEC, nil, nil, "mm: the implanted catheter's length; 0xFFFF = the one the pump knows (request) or unknown (reply)")
F[123] = ProtoField.bytes("itbp.stage_prescription.reply.staged_hash", "staged_hash", base.NONE, "opaque 16-byte name of the staged change; echo it in the commit")
F[124] = ProtoField.uint32("itbp.stage_prescription.reply.active_version", "active_version", base.DEC, nil, nil, "prescription version in force when the change was staged")
F[125] = ProtoField.uint32("itbp.stage_prescription.reply.daily_dose_ng", "daily_dose_ng", base.DEC, nil, nil, "ng/day")
F[126] = ProtoField.uint32("itbp.stage_prescription.reply.rate_nl_per_day", "rate_nl_per_day", base.DEC, nil, nil, "nL/day")
F[127] = ProtoField.uint32("itbp.stage_prescription.reply.duration_s", "duration_s", base.DEC, nil, nil, "s (duration)")
F[128] = ProtoField.uint32("itbp.stage_prescription.reply.next_refill_time", "next_refill_time", base.DEC, nil, nil, "pump time: s since 1970-01-01T00:00:00 UTC; 0 = none")
F[129] = ProtoField.uint32("itbp.stage_prescription.reply.low_reservoir_time", "low_reservoir_time", base.DEC, nil, nil, "pump time: s since 1970-01-01T00:00:00 UTC; 0 = none")
F[130] = ProtoField.uint16("itbp.stage_prescription.reply.warnings", "warnings", base.HEX, nil, nil, "StageWarning bits")
F[131] = ProtoField.uint32("itbp.stage_prescription.reply.bolus_dose_ng", "bolus_dose_ng", base.DEC, nil, nil, "ng")
F[132] = ProtoField.uint32("itbp.stage_prescription.reply.to_patient_ng", "to_patient_ng", base.DEC, nil, nil, "ng")
F[133] = ProtoField.uint32("itbp.stage_prescription.reply.baseline_ng", "baseline_ng", base.DEC, nil, nil, "ng")
F[134] = ProtoField.int32("itbp.stage_prescription.reply.change_permille", "change_permille", base.DEC, nil, nil, "(value - baseline) / baseline in 0.1 %, rounded toward zero; 0 = none")
F[135] = ProtoField.uint16("itbp.stage_prescription.reply.titration_limit_pct", "titration_limit_pct", base.DEC, nil, nil, "increase over the titration baseline that needs acknowledgement (%)")
F[136] = ProtoField.uint32("itbp.stage_prescription.reply.soft_limit_ng", "soft_limit_ng", base.DEC, nil, nil, "ng")
F[137] = ProtoField.uint32("itbp.stage_prescription.reply.hard_limit_ng", "hard_limit_ng", base.DEC, nil, nil, "ng")
F[138] = ProtoField.uint32("itbp.stage_prescription.reply.worst_day_ng", "worst_day_ng", base.DEC, nil, nil, "ng")
F[139] = ProtoField.uint32("itbp.commit_prescription.request.request_id", "request_id", base.DEC, nil, nil, "idempotency key chosen by the programmer, non-zero; the same on every resend after a lost reply, a new one for a new attempt")
F[140] = ProtoField.bytes("itbp.commit_prescription.request.staged_hash", "staged_hash", base.NONE, "opaque 16-byte name of the staged change; echo it in the commit")
F[141] = ProtoField.uint32("itbp.commit_prescription.request.active_version", "active_version", base.DEC, nil, nil, "prescription version in force when the change was staged")
F[142] = ProtoField.uint16("itbp.commit_prescription.request.ack_warnings", "ack_warnings", base.HEX, nil, nil, "StageWarning bits")
F[143] = ProtoField.uint32("itbp.commit_prescription.reply.version", "version", base.DEC, nil, nil, "prescription version")
F[144] = ProtoField.uint32("itbp.abort_prescription.request.request_id", "request_id", base.DEC, nil, nil, "idempotency key chosen by the programmer, non-zero; the same on every resend after a lost reply, a new one for a new attempt")
F[145] = ProtoField.uint32("itbp.refill.request.request_id", "request_id", base.DEC, nil, nil, "idempotency key chosen by the programmer, non-zero; the same on every resend after a lost reply, a new one for a new attempt")
F[146] = ProtoField.uint32("itbp.refill.request.withdrawn_nl", "withdrawn_nl", base.DEC, nil, nil, "nL")
F[147] = ProtoField.uint32("itbp.refill.request.added_nl", "added_nl", base.DEC, nil, nil, "nL")
F[148] = ProtoField.uint16("itbp.refill.request.concentration_mcg_per_ml", "concentration_mcg_per_ml", base.DEC, nil, nil, "mcg/mL; 0 until the first fill")
F[149] = ProtoField.uint32("itbp.refill.reply.expected_nl", "expected_nl", base.DEC, nil, nil, "nL")
F[150] = ProtoField.int32("itbp.refill.reply.discrepancy_nl", "discrepancy_nl", base.DEC, nil, nil, "nL, signed: withdrawn - expected (pocket-fill / over-infusion signal)")
F[151] = ProtoField.uint8("itbp.refill.reply.flags", "flags", base.HEX, nil, nil, "RefillFlag bits")
F[152] = ProtoField.uint32("itbp.refill.reply.reservoir_nl", "reservoir_nl", base.DEC, nil, nil, "nL")
F[153] = ProtoField.uint32("itbp.refill.reply.low_reservoir_time", "low_reservoir_time", base.DEC, nil, nil, "pump time: s since 1970-01-01T00:00:00 UTC; 0 = none")
F[154] = ProtoField.uint32("itbp.patient_bolus_config.request.request_id", "request_id", base.DEC, nil, nil, "idempotency key chosen by the programmer, non-zero; the same on every resend after a lost reply, a new one for a new attempt")
F[155] = ProtoField.none("itbp.patient_bolus_config.request.config", "config", "")
F[156] = ProtoField.bool("itbp.patient_bolus_config.request.config.enabled", "enabled", base.NONE, nil, nil, "patient bolus allowed")
F[157] = ProtoField.uint32("itbp.patient_bolus_config.request.config.dose_ng", "dose_ng", base.DEC, nil, nil, "ng per bolus")
F[158] = ProtoField.uint32("itbp.patient_bolus_config.request.config.duration_s", "duration_s", base.DEC, nil, nil, "s (duration)")
F[159] = ProtoField.uint8("itbp.patient_bolus_config.request.config.max_per_day", "max_per_day", base.DEC, nil, nil, "patient boluses allowed per rolling 24 h")
F[160] = ProtoField.uint32("itbp.patient_bolus_config.request.config.lockout_s", "lockout_s", base.DEC, nil, nil, "s (duration)")
F[161] = ProtoField.uint16("itbp.patient_bolus_config.request.ack_warnings", "ack_warnings", base.HEX, nil, nil, "StageWarning bits")
F[162] = ProtoField.bool("itbp.patient_bolus_config.request.preview", "preview", base.NONE, nil, nil, "true: check and return the summary, write nothing")
F[163] = ProtoField.uint32("itbp.patient_bolus_config.reply.daily_dose_ng", "daily_dose_ng", base.DEC, nil, nil, "ng/day")
F[164] = ProtoField.uint32("itbp.patient_bolus_config.reply.allowance_ng", "allowance_ng", base.DEC, nil, nil, "ng")
F[165] = ProtoField.uint32("itbp.patient_bolus_config.reply.worst_day_ng", "worst_day_ng", base.DEC, nil, nil, "ng")
F[166] = ProtoField.uint32("itbp.patient_bolus_config.reply.current_worst_day_ng", "current_worst_day_ng", base.DEC, nil, nil, "ng")
F[167] = ProtoField.uint32("itbp.patient_bolus_config.reply.baseline_ng", "baseline_ng", base.DEC, nil, nil, "ng")
F[168] = ProtoField.int32("itbp.patient_bolus_config.reply.change_permille", "change_permille", base.DEC, nil, nil, "(value - baseline) / baseline in 0.1 %, rounded toward zero; 0 = none")
F[169] = ProtoField.uint16("itbp.patient_bolus_config.reply.titration_limit_pct", "titration_limit_pct", base.DEC, nil, nil, "increase over the titration baseline that needs acknowledgement (%)")
F[170] = ProtoField.uint32("itbp.patient_bolus_config.reply.soft_limit_ng", "soft_limit_ng", base.DEC, nil, nil, "ng")
F[171] = ProtoField.uint32("itbp.patient_bolus_config.reply.hard_limit_ng", "hard_limit_ng", base.DEC, nil, nil, "ng")
F[172] = ProtoField.uint16("itbp.patient_bolus_config.reply.warnings", "warnings", base.HEX, nil, nil, "StageWarning bits")
F[173] = ProtoField.uint32("itbp.patient_bolus_request.request.request_id", "request_id", base.DEC, nil, nil, "idempotency key chosen by the programmer, non-zero; the same on every resend after a lost reply, a new one for a new attempt")
F[174] = ProtoField.uint32("itbp.patient_bolus_request.reply.dose_ng", "dose_ng", base.DEC, nil, nil, "ng per bolus")
F[175] = ProtoField.uint32("itbp.patient_bolus_request.reply.duration_s", "duration_s", base.DEC, nil, nil, "s (duration)")
F[176] = ProtoField.uint32("itbp.patient_bolus_request.reply.end_time", "end_time", base.DEC, nil, nil, "pump time: s since 1970-01-01T00:00:00 UTC; 0 = none")
F[177] = ProtoField.uint8("itbp.patient_bolus_request.reply.remaining_today", "remaining_today", base.DEC, nil, nil, "patient boluses left in the rolling 24 h")
F[178] = ProtoField.uint32("itbp.stop.request.request_id", "request_id", base.DEC, nil, nil, "idempotency key chosen by the programmer, non-zero; the same on every resend after a lost reply, a new one for a new attempt")
F[179] = ProtoField.uint32("itbp.resume.request.request_id", "request_id", base.DEC, nil, nil, "idempotency key chosen by the programmer, non-zero; the same on every resend after a lost reply, a new one for a new attempt")
F[180] = ProtoField.uint32("itbp.set_clock.request.request_id", "request_id", base.DEC, nil, nil, "idempotency key chosen by the programmer, non-zero; the same on every resend after a lost reply, a new one for a new attempt")
F[181] = ProtoField.uint32("itbp.set_clock.request.pump_time", "pump_time", base.DEC, nil, nil, "pump time: s since 1970-01-01T00:00:00 UTC (the clinic's local time is pump_time + utc_offset_s)")
F[182] = ProtoField.int32("itbp.set_clock.request.utc_offset_s", "utc_offset_s", base.DEC, nil, nil, "s: the clinic's local time minus UTC, set with the clock (UTC+01:00 = 3600, UTC-05:00 = -18000; 0 for a pump never told its zone); flex steps and the midnight of the daily totals run on local time; SET_CLOCK accepts -43200..50400 in quarter hours (CLOCK_INVALID)")
F[183] = ProtoField.uint32("itbp.set_clock.reply.previous_time", "previous_time", base.DEC, nil, nil, "pump time before the change (s)")
F[184] = ProtoField.int32("itbp.set_clock.reply.previous_utc_offset_s", "previous_utc_offset_s", base.DEC, nil, nil, "s: the clinic's UTC offset before the change")
F[185] = ProtoField.none("itbp.device_limits.reply.drug", "drug", "")
F[186] = ProtoField.string("itbp.device_limits.reply.drug.drug_name", "drug_name", base.UNICODE, "drug name (UTF-8)")
F[187] = ProtoField.none("itbp.device_limits.reply.drug.concentrations_mcg_per_ml", "concentrations_mcg_per_ml", "mcg/mL")
F[188] = ProtoField.uint16("itbp.device_limits.reply.drug.concentrations_mcg_per_ml.item", "concentrations_mcg_per_ml", base.DEC, nil, nil, "mcg/mL")
F[189] = ProtoField.uint32("itbp.device_limits.reply.drug.hard_max_daily_dose_ng", "hard_max_daily_dose_ng", base.DEC, nil, nil, "ng")
F[190] = ProtoField.uint32("itbp.device_limits.reply.drug.soft_max_daily_dose_ng", "soft_max_daily_dose_ng", base.DEC, nil, nil, "ng")
F[191] = ProtoField.uint32("itbp.device_limits.reply.drug.max_bolus_ng", "max_bolus_ng", base.DEC, nil, nil, "ng")
F[192] = ProtoField.uint32("itbp.device_limits.reply.drug.min_bolus_duration_s", "min_bolus_duration_s", base.DEC, nil, nil, "s (duration)")
F[193] = ProtoField.uint32("itbp.device_limits.reply.drug.max_bolus_duration_s", "max_bolus_duration_s", base.DEC, nil, nil, "s (duration)")
F[194] = ProtoField.none("itbp.device_limits.reply.titration", "titration", "")
F[195] = ProtoField.uint16("itbp.device_limits.reply.titration.soft_increase_pct", "soft_increase_pct", base.DEC, nil, nil, "percent")
F[196] = ProtoField.uint32("itbp.device_limits.reply.titration.window_s", "window_s", base.DEC, nil, nil, "s (duration)")
F[197] = ProtoField.none("itbp.device_limits.reply.delivery", "delivery", "")
F[198] = ProtoField.uint32("itbp.device_limits.reply.delivery.min_rate_nl_per_day", "min_rate_nl_per_day", base.DEC, nil, nil, "nL/day")
F[199] = ProtoField.uint32("itbp.device_limits.reply.delivery.max_rate_nl_per_day", "max_rate_nl_per_day", base.DEC, nil, nil, "nL/day")
F[200] = ProtoField.uint32("itbp.device_limits.reply.delivery.safe_rate_nl_per_day", "safe_rate_nl_per_day", base.DEC, nil, nil, "nL/day")
F[201] = ProtoField.uint32("itbp.device_limits.reply.delivery.reservoir_capacity_nl", "reservoir_capacity_nl", base.DEC, nil, nil, "nL")
F[202] = ProtoField.uint8("itbp.device_limits.reply.delivery.max_flex_steps", "max_flex_steps", base.DEC, nil, nil, "steps per day program")
F[203] = ProtoField.uint16("itbp.device_limits.reply.delivery.max_catheter_length_mm", "max_catheter_length_mm", base.DEC, nil, nil, "mm")
F[204] = ProtoField.none("itbp.device_limits.reply.patient_bolus", "patient_bolus", "")
F[205] = ProtoField.uint32("itbp.device_limits.reply.patient_bolus.max_dose_ng", "max_dose_ng", base.DEC, nil, nil, "ng")
F[206] = ProtoField.uint32("itbp.device_limits.reply.patient_bolus.min_duration_s", "min_duration_s", base.DEC, nil, nil, "s (duration)")
F[207] = ProtoField.uint32("itbp.device_limits.reply.patient_bolus.max_duration_s", "max_duration_s", base.DEC, nil, nil, "s (duration)")
F[208] = ProtoField.uint8("itbp.device_limits.reply.patient_bolus.max_per_day_limit", "max_per_day_limit", base.DEC, nil, nil, "boluses per 24 h")
F[209] = ProtoField.uint32("itbp.device_limits.reply.patient_bolus.min_lockout_s", "min_lockout_s", base.DEC, nil, nil, "s (duration)")
F[210] = ProtoField.uint32("itbp.device_limits.reply.patient_bolus.max_lockout_s", "max_lockout_s", base.DEC, nil, nil, "s (duration)")
F[211] = ProtoField.none("itbp.device_limits.reply.alarms", "alarms", "active alarms")
F[212] = ProtoField.uint32("itbp.device_limits.reply.alarms.low_reservoir_min_nl", "low_reservoir_min_nl", base.DEC, nil, nil, "nL")
F[213] = ProtoField.uint32("itbp.device_limits.reply.alarms.low_reservoir_max_nl", "low_reservoir_max_nl", base.DEC, nil, nil, "nL")
F[214] = ProtoField.uint32("itbp.device_limits.reply.alarms.critical_interval_min_s", "critical_interval_min_s", base.DEC, nil, nil, "s (duration)")
F[215] = ProtoField.uint32("itbp.device_limits.reply.alarms.critical_interval_max_s", "critical_interval_max_s", base.DEC, nil, nil, "s (duration)")
F[216] = ProtoField.none("itbp.device_limits.reply.clock", "clock", "")
F[217] = ProtoField.uint32("itbp.device_limits.reply.clock.earliest_time", "earliest_time", base.DEC, nil, nil, "pump time: s since 1970-01-01T00:00:00 UTC; 0 = none")
F[218] = ProtoField.uint32("itbp.device_limits.reply.clock.latest_time", "latest_time", base.DEC, nil, nil, "pump time: s since 1970-01-01T00:00:00 UTC; 0 = none")
F[219] = ProtoField.uint32("itbp.stage_refill.request.request_id", "request_id", base.DEC, nil, nil, "idempotency key chosen by the programmer, non-zero; the same on every resend after a lost reply, a new one for a new attempt")
F[220] = ProtoField.uint32("itbp.stage_refill.request.withdrawn_nl", "withdrawn_nl", base.DEC, nil, nil, "nL")
F[221] = ProtoField.uint32("itbp.stage_refill.request.added_nl", "added_nl", base.DEC, nil, nil, "nL")
F[222] = ProtoField.uint16("itbp.stage_refill.request.concentration_mcg_per_ml", "concentration_mcg_per_ml", base.DEC, nil, nil, "mcg/mL; 0 until the first fill")
F[223] = ProtoField.bool("itbp.stage_refill.request.bridge", "bridge", base.NONE, nil, nil, "1 = run the bridge bolus the pump computes if the concentration changes; 0 = skip it (the pump logs BRIDGE_SKIPPED)")
F[224] = ProtoField.uint16("itbp.stage_refill.request.catheter_length_mm", "catheter_length_mm", base.DEC, nil, nil, "mm: the implanted catheter's length; 0xFFFF = the one the pump knows (request) or unknown (reply)")
F[225] = ProtoField.bytes("itbp.stage_refill.reply.staged_hash", "staged_hash", base.NONE, "opaque 16-byte name of the staged change; echo it in the commit")
F[226] = ProtoField.uint32("itbp.stage_refill.reply.active_version", "active_version", base.DEC, nil, nil, "prescription version in force when the change was staged")
F[227] = ProtoField.uint32("itbp.stage_refill.reply.withdrawn_nl", "withdrawn_nl", base.DEC, nil, nil, "nL")
F[228] = ProtoField.uint32("itbp.stage_refill.reply.expected_nl", "expected_nl", base.DEC, nil, nil, "nL")
F[229] = ProtoField.int32("itbp.stage_refill.reply.discrepancy_nl", "discrepancy_nl", base.DEC, nil, nil, "nL, signed: withdrawn - expected (pocket-fill / over-infusion signal)")
F[230] = ProtoField.uint32("itbp.stage_refill.reply.discrepancy_limit_nl", "discrepancy_limit_nl", base.DEC, nil, nil, "nL")
F[231] = ProtoField.uint8("itbp.stage_refill.reply.flags", "flags", base.HEX, nil, nil, "RefillFlag bits")
F[232] = ProtoField.uint32("itbp.stage_refill.reply.reservoir_nl", "reservoir_nl", base.DEC, nil, nil, "nL")
F[233] = ProtoField.uint16("itbp.stage_refill.reply.old_concentration_mcg_per_ml", "old_concentration_mcg_per_ml", base.DEC, nil, nil, "mcg/mL")
F[234] = ProtoField.uint16("itbp.stage_refill.reply.concentration_mcg_per_ml", "concentration_mcg_per_ml", base.DEC, nil, nil, "mcg/mL; 0 until the first fill")
F[235] = ProtoField.uint32("itbp.stage_refill.reply.daily_dose_ng", "daily_dose_ng", base.DEC, nil, nil, "ng/day")
F[236] = ProtoField.none("itbp.stage_refill.reply.day_doses_ng", "day_doses_ng", "ng")
F[237] = ProtoField.uint32("itbp.stage_refill.reply.day_doses_ng.item", "day_doses_ng", base.DEC, nil, nil, "ng")
F[238] = ProtoField.none("itbp.stage_refill.reply.day_volumes_nl", "day_volumes_nl", "nL")
F[239] = ProtoField.uint32("itbp.stage_refill.reply.day_volumes_nl.item", "day_volumes_nl", base.DEC, nil, nil, "nL")
F[240] = ProtoField.uint32("itbp.stage_refill.reply.old_rate_nl_per_day", "old_rate_nl_per_day", base.DEC, nil, nil, "nL/day")
F[241] = ProtoField.uint32("itbp.stage_refill.reply.rate_nl_per_day", "rate_nl_per_day", base.DEC, nil, nil, "nL/day")
F[242] = ProtoField.uint32("itbp.stage_refill.reply.low_reservoir_time", "low_reservoir_time", base.DEC, nil, nil, "pump time: s since 1970-01-01T00:00:00 UTC; 0 = none")
F[243] = ProtoField.uint32("itbp.stage_refill.reply.next_refill_time", "next_refill_time", base.DEC, nil, nil, "pump time: s since 1970-01-01T00:00:00 UTC; 0 = none")
F[244] = ProtoField.uint32("itbp.stage_refill.reply.empty_time", "empty_time", base.DEC, nil, nil, "pump time: s since 1970-01-01T00:00:00 UTC; 0 = none")
F[245] = ProtoField.uint16("itbp.stage_refill.reply.catheter_length_mm", "catheter_length_mm", base.DEC, nil, nil, "mm: the implanted catheter's length; 0xFFFF = the one the pump knows (request) or unknown (reply)")
F[246] = ProtoField.uint32("itbp.stage_refill.reply.bridge_volume_nl", "bridge_volume_nl", base.DEC, nil, nil, "nL")
F[247] = ProtoField.uint32("itbp.stage_refill.reply.bridge_dose_ng", "bridge_dose_ng", base.DEC, nil, nil, "ng")
F[248] = ProtoField.uint32("itbp.stage_refill.reply.bridge_rate_nl_per_day", "bridge_rate_nl_per_day", base.DEC, nil, nil, "nL/day")
F[249] = ProtoField.uint32("itbp.stage_refill.reply.bridge_duration_s", "bridge_duration_s", base.DEC, nil, nil, "s (duration)")
F[250] = ProtoField.uint32("itbp.stage_refill.reply.bridge_end_time", "bridge_end_time", base.DEC, nil, nil, "pump time: s since 1970-01-01T00:00:00 UTC; 0 = none")
F[251] = ProtoField.uint32("itbp.commit_refill.request.request_id", "request_id", base.DEC, nil, nil, "idempotency key chosen by the programmer, non-zero; the same on every resend after a lost reply, a new one for a new attempt")
F[252] = ProtoField.bytes("itbp.commit_refill.request.staged_hash", "staged_hash", base.NONE, "opaque 16-byte name of the staged change; echo it in the commit")
F[253] = ProtoField.uint32("itbp.commit_refill.request.active_version", "active_version", base.DEC, nil, nil, "prescription version in force when the change was staged")
F[254] = ProtoField.uint32("itbp.commit_refill.reply.expected_nl", "expected_nl", base.DEC, nil, nil, "nL")
F[255] = ProtoField.int32("itbp.commit_refill.reply.discrepancy_nl", "discrepancy_nl", base.DEC, nil, nil, "nL, signed: withdrawn - expected (pocket-fill / over-infusion signal)")
F[256] = ProtoField.uint8("itbp.commit_refill.reply.flags", "flags", base.HEX, nil, nil, "RefillFlag bits")
F[257] = ProtoField.uint32("itbp.commit_refill.reply.reservoir_nl", "reservoir_nl", base.DEC, nil, nil, "nL")
F[258] = ProtoField.uint32("itbp.commit_refill.reply.low_reservoir_time", "low_reservoir_time", base.DEC, nil, nil, "pump time: s since 1970-01-01T00:00:00 UTC; 0 = none")
F[259] = ProtoField.uint32("itbp.commit_refill.reply.bridge_end_time", "bridge_end_time", base.DEC, nil, nil, "pump time: s since 1970-01-01T00:00:00 UTC; 0 = none")
F[260] = ProtoField.none("itbp.alarms_read.reply.alarms", "alarms", "active alarms")
F[261] = ProtoField.uint8("itbp.alarms_read.reply.alarms.alarm", "alarm", base.DEC, VS_ALARMID, nil, "AlarmId")
F[262] = ProtoField.bool("itbp.alarms_read.reply.alarms.critical", "critical", base.NONE, nil, nil, "true for a critical alarm (two-tone; drug no longer flowing as programmed)")
F[263] = ProtoField.bool("itbp.alarms_read.reply.alarms.acknowledged", "acknowledged", base.NONE, nil, nil, "true once acknowledged (silenced)")
F[264] = ProtoField.uint32("itbp.alarms_read.reply.alarms.raised_at", "raised_at", base.DEC, nil, nil, "pump time (s) the alarm was raised")
F[265] = ProtoField.uint32("itbp.alarms_read.reply.alarms.silenced_until", "silenced_until", base.DEC, nil, nil, "pump time (s) until which the tone is silenced; 0 = sounding")
F[266] = ProtoField.uint32("itbp.alarms_read.reply.low_reservoir_nl", "low_reservoir_nl", base.DEC, nil, nil, "nL")
F[267] = ProtoField.uint32("itbp.alarms_read.reply.critical_interval_s", "critical_interval_s", base.DEC, nil, nil, "s (duration)")
F[268] = ProtoField.uint32("itbp.alarms_ack.request.request_id", "request_id", base.DEC, nil, nil, "idempotency key chosen by the programmer, non-zero; the same on every resend after a lost reply, a new one for a new attempt")
F[269] = ProtoField.none("itbp.alarms_ack.request.alarms", "alarms", "active alarms")
F[270] = ProtoField.uint8("itbp.alarms_ack.request.alarms.item", "alarms", base.DEC, VS_ALARMID, nil, "active alarms")
F[271] = ProtoField.uint8("itbp.alarms_ack.reply.acknowledged", "acknowledged", base.DEC, nil, nil, "true once acknowledged (silenced)")
F[272] = ProtoField.uint32("itbp.alarms_test.request.request_id", "request_id", base.DEC, nil, nil, "idempotency key chosen by the programmer, non-zero; the same on every resend after a lost reply, a new one for a new attempt")
F[273] = ProtoField.uint32("itbp.alarms_config.request.request_id", "request_id", base.DEC, nil, nil, "idempotency key chosen by the programmer, non-zero; the same on every resend after a lost reply, a new one for a new attempt")
F[274] = ProtoField.uint32("itbp.alarms_config.request.low_reservoir_nl", "low_reservoir_nl", base.DEC, nil, nil, "nL")
F[275] = ProtoField.uint32("itbp.alarms_config.request.critical_interval_s", "critical_interval_s", base.DEC, nil, nil, "s (duration)")
F[276] = ProtoField.uint8("itbp.log_info.request.log", "log", base.DEC, VS_LOGID, nil, "LogId")
F[277] = ProtoField.uint32("itbp.log_info.reply.first_seq", "first_seq", base.DEC, nil, nil, "sequence number of the oldest record held (= next_seq when empty)")
F[278] = ProtoField.uint32("itbp.log_info.reply.next_seq", "next_seq", base.DEC, nil, nil, "sequence number the next record will get")
F[279] = ProtoField.uint32("itbp.log_info.reply.count", "count", base.DEC, nil, nil, "records held")
F[280] = ProtoField.uint32("itbp.log_info.reply.capacity", "capacity", base.DEC, nil, nil, "records the ring holds before the oldest is dropped")
F[281] = ProtoField.uint8("itbp.log_info.reply.record_size", "record_size", base.DEC, nil, nil, "bytes per record (24)")
F[282] = ProtoField.uint8("itbp.log_read.request.log", "log", base.DEC, VS_LOGID, nil, "LogId")
F[283] = ProtoField.uint32("itbp.log_read.request.cursor", "cursor", base.DEC, nil, nil, "sequence number of the first record wanted")
F[284] = ProtoField.uint32("itbp.log_read.request.max_count", "max_count", base.DEC, nil, nil, "most records wanted in this stream")
F[285] = ProtoField.none("itbp.log_read.reply.records", "records", "24-byte log records (layout in 'Log records')")
F[286] = ProtoField.uint32("itbp.log_read.reply.records.seq", "seq", base.DEC, nil, nil, "record sequence number, per log, never reused")
F[287] = ProtoField.uint32("itbp.log_read.reply.records.time", "time", base.DEC, nil, nil, "pump time (s)")
F[288] = ProtoField.uint16("itbp.log_read.reply.records.event", "event", base.DEC, VS_LOGEVENT, nil, "LogEvent")
F[289] = ProtoField.uint16("itbp.log_read.reply.records.flags", "flags", base.DEC, nil, nil, "RefillFlag bits")
F[290] = ProtoField.int32("itbp.log_read.reply.records.a", "a", base.DEC, nil, nil, "first argument (meaning by event)")
F[291] = ProtoField.int32("itbp.log_read.reply.records.b", "b", base.DEC, nil, nil, "second argument (meaning by event)")
F[292] = ProtoField.uint32("itbp.log_read.reply.records.check", "check", base.HEX, nil, nil, "CRC-32C of the 20 bytes before it")
F[293] = ProtoField.uint32("itbp.log_read.reply.next_cursor", "next_cursor", base.DEC, nil, nil, "cursor to send next: one past the last record in this frame; for an empty list, the cursor sent raised to first_seq and capped at next_seq")
F[294] = ProtoField.uint32("itbp.telemetry_subscribe.request.interval_s", "interval_s", base.DEC, nil, nil, "s between TELEMETRY events; 0 stops them")
F[295] = ProtoField.uint32("itbp.telemetry_subscribe.reply.interval_s", "interval_s", base.DEC, nil, nil, "s between TELEMETRY events; 0 stops them")
F[296] = ProtoField.uint32("itbp.telemetry.event.pump_time", "pump_time", base.DEC, nil, nil, "pump time: s since 1970-01-01T00:00:00 UTC (the clinic's local time is pump_time + utc_offset_s)")
F[297] = ProtoField.uint8("itbp.telemetry.event.mode", "mode", base.DEC, VS_THERAPYMODE, nil, "TherapyMode")
F[298] = ProtoField.uint32("itbp.telemetry.event.rate_nl_per_day", "rate_nl_per_day", base.DEC, nil, nil, "nL/day")
F[299] = ProtoField.uint32("itbp.telemetry.event.reservoir_nl", "reservoir_nl", base.DEC, nil, nil, "nL")
F[300] = ProtoField.uint64("itbp.telemetry.event.delivered_ng", "delivered_ng", base.DEC, nil, nil, "ng")
F[301] = ProtoField.uint32("itbp.telemetry.event.battery_ppm", "battery_ppm", base.DEC, nil, nil, "remaining battery charge, parts per million")
F[302] = ProtoField.uint32("itbp.telemetry.event.alarm_bits", "alarm_bits", base.DEC, nil, nil, "bit (AlarmId - 1) set while that alarm is active")
F[303] = ProtoField.uint8("itbp.alarm_event.event.alarm", "alarm", base.DEC, VS_ALARMID, nil, "AlarmId")
F[304] = ProtoField.bool("itbp.alarm_event.event.raised", "raised", base.NONE, nil, nil, "true: raised; false: cleared")
F[305] = ProtoField.bool("itbp.alarm_event.event.critical", "critical", base.NONE, nil, nil, "true for a critical alarm (two-tone; drug no longer flowing as programmed)")
F[306] = ProtoField.uint32("itbp.alarm_event.event.time", "time", base.DEC, nil, nil, "pump time (s)")
F[307] = ProtoField.uint32("itbp.request_status.request.request_id", "request_id", base.DEC, nil, nil, "idempotency key chosen by the programmer, non-zero; the same on every resend after a lost reply, a new one for a new attempt")
F[308] = ProtoField.uint8("itbp.request_status.reply.state", "state", base.DEC, VS_REQUESTSTATE, nil, "RequestState")
F[309] = ProtoField.uint8("itbp.request_status.reply.msg_type", "msg_type", base.DEC, VS_MSGTYPE, nil, "MsgType")
F[310] = ProtoField.uint16("itbp.request_status.reply.status", "status", base.DEC, VS_ERRORCODE, nil, "ErrorCode")
F[311] = ProtoField.bytes("itbp.request_status.reply.reply", "reply", base.NONE, "the original reply body (the bytes after the status)")

local MSG = {}
MSG[1] = { name = "HELLO", summary = "identify the pump: the only message an unpaired peer may read", auth = false, streamed = false, request = {  }, reply = { { k = "text", f = F[1] }, { k = "text", f = F[2] }, { k = "text", f = F[3] }, { k = "int", name = "protocol_min", size = 1, f = F[4] }, { k = "int", name = "protocol_max", size = 1, f = F[5] }, { k = "int", name = "max_payload", size = 2, f = F[6] }, { k = "int", name = "capabilities", size = 4, f = F[7], bits = VS_CAPABILITY }, { k = "bool", f = F[8] }, { k = "int", name = "paired_keys", size = 1, f = F[9] }, { k = "array", count = 1, f = F[10], item = { k = "int", name = "messages", size = 1, f = F[11] } } } }
MSG[2] = { name = "PAIR_BEGIN", summary = "start pairing (only while the wand window is open; a patient key only after a clinician's PATIENT_PAIRING_AUTHORIZE): X25519 public keys and nonces", auth = false, streamed = false, request = { { k = "int", name = "role", size = 1, f = F[12] }, { k = "bytes", size = 32, f = F[13] }, { k = "bytes", size = 16, f = F[14] }, { k = "int", name = "programmer_id", size = 8, f = F[15] } }, reply = { { k = "bytes", size = 32, f = F[16] }, { k = "bytes", size = 16, f = F[17] } } }
MSG[3] = { name = "PAIR_CONFIRM", summary = "finish pairing: both sides prove they derived the same keys; the pump stores the key once the person at the pump accepts the code (PAIRING_AWAITING_CONFIRMATION until then: send it again)", auth = false, streamed = false, request = { { k = "bytes", size = 16, f = F[18] } }, reply = { { k = "int", name = "key_id", size = 4, f = F[19] }, { k = "bytes", size = 16, f = F[20] } } }
MSG[4] = { name = "SESSION_OPEN", summary = "open an authenticated session with a paired key", auth = false, streamed = false, request = { { k = "int", name = "key_id", size = 4, f = F[21] }, { k = "bytes", size = 16, f = F[22] } }, reply = { { k = "int", name = "session_id", size = 4, f = F[23] }, { k = "bytes", size = 16, f = F[24] }, { k = "bytes", size = 16, f = F[25] }, { k = "int", name = "role", size = 1, f = F[26] } } }
MSG[5] = { name = "SESSION_CLOSE", summary = "close the session", auth = true, streamed = false, request = {  }, reply = {  } }
MSG[6] = { name = "UNPAIR", summary = "forget a pairing (key_id 0: the key of this session)", auth = true, streamed = false, request = { { k = "int", name = "request_id", size = 4, f = F[27] }, { k = "int", name = "key_id", size = 4, f = F[28] } }, reply = {  } }
MSG[7] = { name = "PAIRINGS_LIST", summary = "list the pump's pairing keys (clinician)", auth = true, streamed = false, request = {  }, reply = { { k = "int", name = "max_pairings", size = 1, f = F[29] }, { k = "array", count = 1, f = F[30], item = { k = "struct", label = "pairings", items = { { k = "int", name = "key_id", size = 4, f = F[31] }, { k = "int", name = "role", size = 1, f = F[32] }, { k = "int", name = "programmer_id", size = 8, f = F[33] }, { k = "int", name = "paired_time", size = 4, f = F[34], time = true } } } } } }
MSG[8] = { name = "PATIENT_PAIRING_AUTHORIZE", summary = "allow one patient key to pair (clinician): valid until a patient pairing completes or valid_until_time", auth = true, streamed = false, request = { { k = "int", name = "request_id", size = 4, f = F[35] } }, reply = { { k = "int", name = "valid_until_time", size = 4, f = F[36], time = true } } }
MSG[16] = { name = "STATUS", summary = "read the pump's state", auth = true, streamed = false, request = {  }, reply = { { k = "int", name = "pump_time", size = 4, f = F[37], time = true }, { k = "int", name = "mode", size = 1, f = F[38] }, { k = "int", name = "prescription_version", size = 4, f = F[39] }, { k = "int", name = "daily_dose_ng", size = 4, f = F[40], unit = "ng/day" }, { k = "int", name = "rate_nl_per_day", size = 4, f = F[41], unit = "nL/day" }, { k = "int", name = "concentration_mcg_per_ml", size = 2, f = F[42], unit = "mcg/mL" }, { k = "int", name = "reservoir_nl", size = 4, f = F[43], unit = "nL" }, { k = "int", name = "reservoir_capacity_nl", size = 4, f = F[44], unit = "nL" }, { k = "int", name = "low_reservoir_nl", size = 4, f = F[45], unit = "nL" }, { k = "int", name = "low_reservoir_time", size = 4, f = F[46], time = true }, { k = "int", name = "empty_time", size = 4, f = F[47], time = true }, { k = "int", name = "battery_ppm", size = 4, f = F[48], unit = "ppm" }, { k = "int", name = "eri_time", size = 4, f = F[49], time = true }, { k = "int", name = "eos_time", size = 4, f = F[50], time = true }, { k = "int", name = "replace_by_time", size = 4, f = F[51], time = true }, { k = "int", name = "delivered_ng", size = 8, f = F[52], unit = "ng" }, { k = "int", name = "delivered_nl", size = 8, f = F[53], unit = "nL" }, { k = "int", name = "strokes", size = 8, f = F[54] }, { k = "int", name = "bolus_mode", size = 1, f = F[55] }, { k = "int", name = "bolus_remaining_ng", size = 4, f = F[56], unit = "ng" }, { k = "int", name = "bolus_end_time", size = 4, f = F[57], time = true }, { k = "int", name = "critical_interval_s", size = 4, f = F[58], unit = "s" }, { k = "bool", f = F[59] }, { k = "array", count = 1, f = F[60], item = { k = "struct", label = "alarms", items = { { k = "int", name = "alarm", size = 1, f = F[61] }, { k = "bool", f = F[62] }, { k = "bool", f = F[63] }, { k = "int", name = "raised_at", size = 4, f = F[64], time = true }, { k = "int", name = "silenced_until", size = 4, f = F[65], time = true } } } }, { k = "bool", f = F[66] }, { k = "int", name = "patient_bolus_dose_ng", size = 4, f = F[67], unit = "ng" }, { k = "int", name = "patient_bolus_duration_s", size = 4, f = F[68], unit = "s" }, { k = "int", name = "patient_bolus_max_per_day", size = 1, f = F[69] }, { k = "int", name = "patient_bolus_lockout_s", size = 4, f = F[70], unit = "s" }, { k = "int", name = "patient_boluses_given", size = 1, f = F[71] }, { k = "int", name = "patient_boluses_refused", size = 1, f = F[72] }, { k = "int", name = "patient_boluses_left", size = 1, f = F[73] }, { k = "int", name = "patient_bolus_lockout_end_time", size = 4, f = F[74], time = true }, { k = "int", name = "day_total_mon_ng", size = 4, f = F[75], unit = "ng" }, { k = "int", name = "day_total_tue_ng", size = 4, f = F[76], unit = "ng" }, { k = "int", name = "day_total_wed_ng", size = 4, f = F[77], unit = "ng" }, { k = "int", name = "day_total_thu_ng", size = 4, f = F[78], unit = "ng" }, { k = "int", name = "day_total_fri_ng", size = 4, f = F[79], unit = "ng" }, { k = "int", name = "day_total_sat_ng", size = 4, f = F[80], unit = "ng" }, { k = "int", name = "day_total_sun_ng", size = 4, f = F[81], unit = "ng" }, { k = "int", name = "utc_offset_s", size = 4, f = F[82], unit = "s", signed = true }, { k = "int", name = "clock_drift_warning_s", size = 2, f = F[83], unit = "s" }, { k = "int", name = "projected_replace_by_time", size = 4, f = F[84], time = true }, { k = "int", name = "catheter_length_mm", size = 2, f = F[85], unit = "mm" } } }
MSG[17] = { name = "READ_PRESCRIPTION", summary = "read the active prescription", auth = true, streamed = false, request = {  }, reply = { { k = "int", name = "version", size = 4, f = F[86] }, { k = "int", name = "concentration_mcg_per_ml", size = 2, f = F[87], unit = "mcg/mL" }, { k = "struct", label = "therapy", f = F[88], items = { { k = "int", name = "kind", size = 1, f = F[89] }, { k = "switch", key = "kind", cases = { [0] = {  }, [1] = { { k = "int", name = "daily_dose_ng", size = 4, f = F[90], unit = "ng/day" } }, [2] = { { k = "array", count = 1, f = F[91], item = { k = "array", count = 1, f = F[92], item = { k = "struct", label = "day_programs[]", items = { { k = "int", name = "start_minute", size = 2, f = F[93], unit = "min after midnight" }, { k = "int", name = "daily_dose_ng", size = 4, f = F[94], unit = "ng/day" } } } } }, { k = "array", fixed = 7, f = F[95], item = { k = "int", name = "weekday_program", size = 1, f = F[96] } } }, [3] = { { k = "int", name = "dose_ng", size = 4, f = F[97], unit = "ng" }, { k = "int", name = "duration_s", size = 4, f = F[98], unit = "s" } }, [4] = { { k = "int", name = "catheter_length_mm", size = 2, f = F[99], unit = "mm" } }, [5] = { { k = "int", name = "catheter_length_mm", size = 2, f = F[100], unit = "mm" } } } } } }, { k = "struct", label = "patient_bolus", f = F[101], items = { { k = "bool", f = F[102] }, { k = "int", name = "dose_ng", size = 4, f = F[103], unit = "ng" }, { k = "int", name = "duration_s", size = 4, f = F[104], unit = "s" }, { k = "int", name = "max_per_day", size = 1, f = F[105] }, { k = "int", name = "lockout_s", size = 4, f = F[106], unit = "s" } } }, { k = "int", name = "low_reservoir_nl", size = 4, f = F[107], unit = "nL" }, { k = "int", name = "critical_interval_s", size = 4, f = F[108], unit = "s" } } }
MSG[18] = { name = "STAGE_PRESCRIPTION", summary = "validate a therapy change whole and hold it; returns the Finish-view summary", auth = true, streamed = false, request = { { k = "int", name = "request_id", size = 4, f = F[109] }, { k = "struct", label = "change", f = F[110], items = { { k = "int", name = "kind", size = 1, f = F[111] }, { k = "switch", key = "kind", cases = { [0] = {  }, [1] = { { k = "int", name = "daily_dose_ng", size = 4, f = F[112], unit = "ng/day" } }, [2] = { { k = "array", count = 1, f = F[113], item = { k = "array", count = 1, f = F[114], item = { k = "struct", label = "day_programs[]", items = { { k = "int", name = "start_minute", size = 2, f = F[115], unit = "min after midnight" }, { k = "int", name = "daily_dose_ng", size = 4, f = F[116], unit = "ng/day" } } } } }, { k = "array", fixed = 7, f = F[117], item = { k = "int", name = "weekday_program", size = 1, f = F[118] } } }, [3] = { { k = "int", name = "dose_ng", size = 4, f = F[119], unit = "ng" }, { k = "int", name = "duration_s", size = 4, f = F[120], unit = "s" } }, [4] = { { k = "int", name = "catheter_length_mm", size = 2, f = F[121], unit = "mm" } }, [5] = { { k = "int", name = "catheter_length_mm", size = 2, f = F[122], unit = "mm" } } } } } } }, reply = { { k = "bytes", size = 16, f = F[123] }, { k = "int", name = "active_version", size = 4, f = F[124] }, { k = "int", name = "daily_dose_ng", size = 4, f = F[125], unit = "ng/day" }, { k = "int", name = "rate_nl_per_day", size = 4, f = F[126], unit = "nL/day" }, { k = "int", name = "duration_s", size = 4, f = F[127], unit = "s" }, { k = "int", name = "next_refill_time", size = 4, f = F[128], time = true }, { k = "int", name = "low_reservoir_time", size = 4, f = F[129], time = true }, { k = "int", name = "warnings", size = 2, f = F[130], bits = VS_STAGEWARNING }, { k = "int", name = "bolus_dose_ng", size = 4, f = F[131], unit = "ng" }, { k = "int", name = "to_patient_ng", size = 4, f = F[132], unit = "ng" }, { k = "int", name = "baseline_ng", size = 4, f = F[133], unit = "ng" }, { k = "int", name = "change_permille", size = 4, f = F[134], signed = true }, { k = "int", name = "titration_limit_pct", size = 2, f = F[135] }, { k = "int", name = "soft_limit_ng", size = 4, f = F[136], unit = "ng" }, { k = "int", name = "hard_limit_ng", size = 4, f = F[137], unit = "ng" }, { k = "int", name = "worst_day_ng", size = 4, f = F[138], unit = "ng" } } }
MSG[19] = { name = "COMMIT_PRESCRIPTION", summary = "apply the staged change atomically if it and the active version still match", auth = true, streamed = false, request = { { k = "int", name = "request_id", size = 4, f = F[139] }, { k = "bytes", size = 16, f = F[140] }, { k = "int", name = "active_version", size = 4, f = F[141] }, { k = "int", name = "ack_warnings", size = 2, f = F[142], bits = VS_STAGEWARNING } }, reply = { { k = "int", name = "version", size = 4, f = F[143] } } }
MSG[20] = { name = "ABORT_PRESCRIPTION", summary = "drop the staged change", auth = true, streamed = false, request = { { k = "int", name = "request_id", size = 4, f = F[144] } }, reply = {  } }
MSG[21] = { name = "REFILL", summary = "record a refill: volume withdrawn, volume added, concentration", auth = true, streamed = false, request = { { k = "int", name = "request_id", size = 4, f = F[145] }, { k = "int", name = "withdrawn_nl", size = 4, f = F[146], unit = "nL" }, { k = "int", name = "added_nl", size = 4, f = F[147], unit = "nL" }, { k = "int", name = "concentration_mcg_per_ml", size = 2, f = F[148], unit = "mcg/mL" } }, reply = { { k = "int", name = "expected_nl", size = 4, f = F[149], unit = "nL" }, { k = "int", name = "discrepancy_nl", size = 4, f = F[150], unit = "nL", signed = true }, { k = "int", name = "flags", size = 1, f = F[151], bits = VS_REFILLFLAG }, { k = "int", name = "reservoir_nl", size = 4, f = F[152], unit = "nL" }, { k = "int", name = "low_reservoir_time", size = 4, f = F[153], time = true } } }
MSG[22] = { name = "PATIENT_BOLUS_CONFIG", summary = "set the patient-bolus dose, duration, maximum per 24 h and lockout (preview: only the pump's summary); written only if every warning is acknowledged", auth = true, streamed = false, request = { { k = "int", name = "request_id", size = 4, f = F[154] }, { k = "struct", label = "config", f = F[155], items = { { k = "bool", f = F[156] }, { k = "int", name = "dose_ng", size = 4, f = F[157], unit = "ng" }, { k = "int", name = "duration_s", size = 4, f = F[158], unit = "s" }, { k = "int", name = "max_per_day", size = 1, f = F[159] }, { k = "int", name = "lockout_s", size = 4, f = F[160], unit = "s" } } }, { k = "int", name = "ack_warnings", size = 2, f = F[161], bits = VS_STAGEWARNING }, { k = "bool", f = F[162] } }, reply = { { k = "int", name = "daily_dose_ng", size = 4, f = F[163], unit = "ng/day" }, { k = "int", name = "allowance_ng", size = 4, f = F[164], unit = "ng" }, { k = "int", name = "worst_day_ng", size = 4, f = F[165], unit = "ng" }, { k = "int", name = "current_worst_day_ng", size = 4, f = F[166], unit = "ng" }, { k = "int", name = "baseline_ng", size = 4, f = F[167], unit = "ng" }, { k = "int", name = "change_permille", size = 4, f = F[168], signed = true }, { k = "int", name = "titration_limit_pct", size = 2, f = F[169] }, { k = "int", name = "soft_limit_ng", size = 4, f = F[170], unit = "ng" }, { k = "int", name = "hard_limit_ng", size = 4, f = F[171], unit = "ng" }, { k = "int", name = "warnings", size = 2, f = F[172], bits = VS_STAGEWARNING } } }
MSG[23] = { name = "PATIENT_BOLUS_REQUEST", summary = "patient asks for a bolus within the configured limits", auth = true, streamed = false, request = { { k = "int", name = "request_id", size = 4, f = F[173] } }, reply = { { k = "int", name = "dose_ng", size = 4, f = F[174], unit = "ng" }, { k = "int", name = "duration_s", size = 4, f = F[175], unit = "s" }, { k = "int", name = "end_time", size = 4, f = F[176], time = true }, { k = "int", name = "remaining_today", size = 1, f = F[177] } } }
MSG[24] = { name = "STOP", summary = "stop delivery (critical alarm PUMP_STOPPED)", auth = true, streamed = false, request = { { k = "int", name = "request_id", size = 4, f = F[178] } }, reply = {  } }
MSG[25] = { name = "RESUME", summary = "resume the therapy in force before the stop", auth = true, streamed = false, request = { { k = "int", name = "request_id", size = 4, f = F[179] } }, reply = {  } }
MSG[26] = { name = "SET_CLOCK", summary = "set the pump's real-time clock (UTC) and the clinic's UTC offset: flex steps and the daily totals' midnight run on local time = pump_time + utc_offset_s", auth = true, streamed = false, request = { { k = "int", name = "request_id", size = 4, f = F[180] }, { k = "int", name = "pump_time", size = 4, f = F[181], time = true }, { k = "int", name = "utc_offset_s", size = 4, f = F[182], unit = "s", signed = true } }, reply = { { k = "int", name = "previous_time", size = 4, f = F[183], time = true }, { k = "int", name = "previous_utc_offset_s", size = 4, f = F[184], unit = "s", signed = true } } }
MSG[27] = { name = "DEVICE_LIMITS", summary = "read the pump's limits and drug library: every range it checks requests against", auth = true, streamed = false, request = {  }, reply = { { k = "struct", label = "drug", f = F[185], items = { { k = "text", f = F[186] }, { k = "array", count = 1, f = F[187], item = { k = "int", name = "concentrations_mcg_per_ml", size = 2, f = F[188] } }, { k = "int", name = "hard_max_daily_dose_ng", size = 4, f = F[189], unit = "ng" }, { k = "int", name = "soft_max_daily_dose_ng", size = 4, f = F[190], unit = "ng" }, { k = "int", name = "max_bolus_ng", size = 4, f = F[191], unit = "ng" }, { k = "int", name = "min_bolus_duration_s", size = 4, f = F[192], unit = "s" }, { k = "int", name = "max_bolus_duration_s", size = 4, f = F[193], unit = "s" } } }, { k = "struct", label = "titration", f = F[194], items = { { k = "int", name = "soft_increase_pct", size = 2, f = F[195] }, { k = "int", name = "window_s", size = 4, f = F[196], unit = "s" } } }, { k = "struct", label = "delivery", f = F[197], items = { { k = "int", name = "min_rate_nl_per_day", size = 4, f = F[198], unit = "nL/day" }, { k = "int", name = "max_rate_nl_per_day", size = 4, f = F[199], unit = "nL/day" }, { k = "int", name = "safe_rate_nl_per_day", size = 4, f = F[200], unit = "nL/day" }, { k = "int", name = "reservoir_capacity_nl", size = 4, f = F[201], unit = "nL" }, { k = "int", name = "max_flex_steps", size = 1, f = F[202] }, { k = "int", name = "max_catheter_length_mm", size = 2, f = F[203], unit = "mm" } } }, { k = "struct", label = "patient_bolus", f = F[204], items = { { k = "int", name = "max_dose_ng", size = 4, f = F[205], unit = "ng" }, { k = "int", name = "min_duration_s", size = 4, f = F[206], unit = "s" }, { k = "int", name = "max_duration_s", size = 4, f = F[207], unit = "s" }, { k = "int", name = "max_per_day_limit", size = 1, f = F[208] }, { k = "int", name = "min_lockout_s", size = 4, f = F[209], unit = "s" }, { k = "int", name = "max_lockout_s", size = 4, f = F[210], unit = "s" } } }, { k = "struct", label = "alarms", f = F[211], items = { { k = "int", name = "low_reservoir_min_nl", size = 4, f = F[212], unit = "nL" }, { k = "int", name = "low_reservoir_max_nl", size = 4, f = F[213], unit = "nL" }, { k = "int", name = "critical_interval_min_s", size = 4, f = F[214], unit = "s" }, { k = "int", name = "critical_interval_max_s", size = 4, f = F[215], unit = "s" } } }, { k = "struct", label = "clock", f = F[216], items = { { k = "int", name = "earliest_time", size = 4, f = F[217], time = true }, { k = "int", name = "latest_time", size = 4, f = F[218], time = true } } } } }
MSG[29] = { name = "STAGE_REFILL", summary = "validate a refill whole (and the bridge a concentration change needs) and hold it; returns the Finish-view summary", auth = true, streamed = false, request = { { k = "int", name = "request_id", size = 4, f = F[219] }, { k = "int", name = "withdrawn_nl", size = 4, f = F[220], unit = "nL" }, { k = "int", name = "added_nl", size = 4, f = F[221], unit = "nL" }, { k = "int", name = "concentration_mcg_per_ml", size = 2, f = F[222], unit = "mcg/mL" }, { k = "bool", f = F[223] }, { k = "int", name = "catheter_length_mm", size = 2, f = F[224], unit = "mm" } }, reply = { { k = "bytes", size = 16, f = F[225] }, { k = "int", name = "active_version", size = 4, f = F[226] }, { k = "int", name = "withdrawn_nl", size = 4, f = F[227], unit = "nL" }, { k = "int", name = "expected_nl", size = 4, f = F[228], unit = "nL" }, { k = "int", name = "discrepancy_nl", size = 4, f = F[229], unit = "nL", signed = true }, { k = "int", name = "discrepancy_limit_nl", size = 4, f = F[230], unit = "nL" }, { k = "int", name = "flags", size = 1, f = F[231], bits = VS_REFILLFLAG }, { k = "int", name = "reservoir_nl", size = 4, f = F[232], unit = "nL" }, { k = "int", name = "old_concentration_mcg_per_ml", size = 2, f = F[233], unit = "mcg/mL" }, { k = "int", name = "concentration_mcg_per_ml", size = 2, f = F[234], unit = "mcg/mL" }, { k = "int", name = "daily_dose_ng", size = 4, f = F[235], unit = "ng/day" }, { k = "array", fixed = 7, f = F[236], item = { k = "int", name = "day_doses_ng", size = 4, f = F[237] } }, { k = "array", fixed = 7, f = F[238], item = { k = "int", name = "day_volumes_nl", size = 4, f = F[239] } }, { k = "int", name = "old_rate_nl_per_day", size = 4, f = F[240], unit = "nL/day" }, { k = "int", name = "rate_nl_per_day", size = 4, f = F[241], unit = "nL/day" }, { k = "int", name = "low_reservoir_time", size = 4, f = F[242], time = true }, { k = "int", name = "next_refill_time", size = 4, f = F[243], time = true }, { k = "int", name = "empty_time", size = 4, f = F[244], time = true }, { k = "int", name = "catheter_length_mm", size = 2, f = F[245], unit = "mm" }, { k = "int", name = "bridge_volume_nl", size = 4, f = F[246], unit = "nL" }, { k = "int", name = "bridge_dose_ng", size = 4, f = F[247], unit = "ng" }, { k = "int", name = "bridge_rate_nl_per_day", size = 4, f = F[248], unit = "nL/day" }, { k = "int", name = "bridge_duration_s", size = 4, f = F[249], unit = "s" }, { k = "int", name = "bridge_end_time", size = 4, f = F[250], time = true } } }
MSG[30] = { name = "COMMIT_REFILL", summary = "apply the staged refill and its bridge atomically if nothing changed since the stage", auth = true, streamed = false, request = { { k = "int", name = "request_id", size = 4, f = F[251] }, { k = "bytes", size = 16, f = F[252] }, { k = "int", name = "active_version", size = 4, f = F[253] } }, reply = { { k = "int", name = "expected_nl", size = 4, f = F[254], unit = "nL" }, { k = "int", name = "discrepancy_nl", size = 4, f = F[255], unit = "nL", signed = true }, { k = "int", name = "flags", size = 1, f = F[256], bits = VS_REFILLFLAG }, { k = "int", name = "reservoir_nl", size = 4, f = F[257], unit = "nL" }, { k = "int", name = "low_reservoir_time", size = 4, f = F[258], time = true }, { k = "int", name = "bridge_end_time", size = 4, f = F[259], time = true } } }
MSG[32] = { name = "ALARMS_READ", summary = "list active alarms and the alarm settings", auth = true, streamed = false, request = {  }, reply = { { k = "array", count = 1, f = F[260], item = { k = "struct", label = "alarms", items = { { k = "int", name = "alarm", size = 1, f = F[261] }, { k = "bool", f = F[262] }, { k = "bool", f = F[263] }, { k = "int", name = "raised_at", size = 4, f = F[264], time = true }, { k = "int", name = "silenced_until", size = 4, f = F[265], time = true } } } }, { k = "int", name = "low_reservoir_nl", size = 4, f = F[266], unit = "nL" }, { k = "int", name = "critical_interval_s", size = 4, f = F[267], unit = "s" } } }
MSG[33] = { name = "ALARMS_ACK", summary = "acknowledge (silence) alarms; an empty list means all", auth = true, streamed = false, request = { { k = "int", name = "request_id", size = 4, f = F[268] }, { k = "array", count = 1, f = F[269], item = { k = "int", name = "alarms", size = 1, f = F[270] } } }, reply = { { k = "int", name = "acknowledged", size = 1, f = F[271] } } }
MSG[34] = { name = "ALARMS_TEST", summary = "sound every tone pattern once", auth = true, streamed = false, request = { { k = "int", name = "request_id", size = 4, f = F[272] } }, reply = {  } }
MSG[35] = { name = "ALARMS_CONFIG", summary = "set the low-reservoir threshold and the critical alarm repeat interval", auth = true, streamed = false, request = { { k = "int", name = "request_id", size = 4, f = F[273] }, { k = "int", name = "low_reservoir_nl", size = 4, f = F[274], unit = "nL" }, { k = "int", name = "critical_interval_s", size = 4, f = F[275], unit = "s" } }, reply = {  } }
MSG[48] = { name = "LOG_INFO", summary = "sequence range and size of a log (therapy 1, alarm 2, audit 3)", auth = true, streamed = false, request = { { k = "int", name = "log", size = 1, f = F[276] } }, reply = { { k = "int", name = "first_seq", size = 4, f = F[277] }, { k = "int", name = "next_seq", size = 4, f = F[278] }, { k = "int", name = "count", size = 4, f = F[279] }, { k = "int", name = "capacity", size = 4, f = F[280] }, { k = "int", name = "record_size", size = 1, f = F[281] } } }
MSG[49] = { name = "LOG_READ", summary = "stream records from cursor (a sequence number); MORE set on all but the last frame", auth = true, streamed = true, request = { { k = "int", name = "log", size = 1, f = F[282] }, { k = "int", name = "cursor", size = 4, f = F[283] }, { k = "int", name = "max_count", size = 4, f = F[284] } }, reply = { { k = "array", count = 1, f = F[285], item = { k = "struct", label = "record", items = { { k = "int", name = "seq", size = 4, f = F[286] }, { k = "int", name = "time", size = 4, f = F[287], time = true }, { k = "int", name = "event", size = 2, f = F[288] }, { k = "int", name = "flags", size = 2, f = F[289] }, { k = "int", name = "a", size = 4, f = F[290], signed = true }, { k = "int", name = "b", size = 4, f = F[291], signed = true }, { k = "int", name = "check", size = 4, f = F[292] } } } }, { k = "int", name = "next_cursor", size = 4, f = F[293] } } }
MSG[64] = { name = "TELEMETRY_SUBSCRIBE", summary = "push TELEMETRY events every interval_s of pump time (0 stops them)", auth = true, streamed = false, request = { { k = "int", name = "interval_s", size = 4, f = F[294], unit = "s" } }, reply = { { k = "int", name = "interval_s", size = 4, f = F[295], unit = "s" } } }
MSG[65] = { name = "TELEMETRY", summary = "periodic state for a subscribed programmer", auth = true, streamed = false, event = { { k = "int", name = "pump_time", size = 4, f = F[296], time = true }, { k = "int", name = "mode", size = 1, f = F[297] }, { k = "int", name = "rate_nl_per_day", size = 4, f = F[298], unit = "nL/day" }, { k = "int", name = "reservoir_nl", size = 4, f = F[299], unit = "nL" }, { k = "int", name = "delivered_ng", size = 8, f = F[300], unit = "ng" }, { k = "int", name = "battery_ppm", size = 4, f = F[301], unit = "ppm" }, { k = "int", name = "alarm_bits", size = 4, f = F[302] } } }
MSG[66] = { name = "ALARM_EVENT", summary = "an alarm was raised or cleared", auth = true, streamed = false, event = { { k = "int", name = "alarm", size = 1, f = F[303] }, { k = "bool", f = F[304] }, { k = "bool", f = F[305] }, { k = "int", name = "time", size = 4, f = F[306], time = true } } }
MSG[80] = { name = "REQUEST_STATUS", summary = "what became of a request id: its original answer, evicted (it reached the pump), or not recalled", auth = true, streamed = false, request = { { k = "int", name = "request_id", size = 4, f = F[307] } }, reply = { { k = "int", name = "state", size = 1, f = F[308] }, { k = "int", name = "msg_type", size = 1, f = F[309] }, { k = "int", name = "status", size = 2, f = F[310] }, { k = "rest", f = F[311] } } }

local itbp = Proto("itbp", "Intrathecal pump telemetry protocol (ITBP)")

local H = {
  wire_len = ProtoField.uint32("itbp.wire_len", "COBS bytes", base.DEC, nil, nil, "bytes of the COBS run, delimiter included"),
  delimited = ProtoField.bool("itbp.delimited", "delimited", base.NONE, nil, nil, "the run ended with its 0x00 delimiter"),
  direction = ProtoField.string("itbp.direction", "direction", base.ASCII, "to_pump or from_pump (capture's epb_flags, else inferred from the flags)"),
  kind = ProtoField.string("itbp.kind", "kind", base.ASCII, "request, reply or event"),
  dropped = ProtoField.string("itbp.dropped", "dropped", base.ASCII, "why a receiver drops this run"),
  version = ProtoField.uint8("itbp.version", "version", base.DEC, nil, nil, "protocol version (1)"),
  flags = ProtoField.uint8("itbp.flags", "flags", base.HEX, nil, nil, "header flag bits"),
  flag_auth = ProtoField.bool("itbp.flags.auth", "AUTH", 8, nil, FLAG_AUTH, "authenticated: session id, counter and tag present"),
  flag_response = ProtoField.bool("itbp.flags.response", "RESPONSE", 8, nil, FLAG_RESPONSE, "a reply"),
  flag_event = ProtoField.bool("itbp.flags.event", "EVENT", 8, nil, FLAG_EVENT, "an unsolicited event"),
  flag_more = ProtoField.bool("itbp.flags.more", "MORE", 8, nil, FLAG_MORE, "streamed reply: more frames follow"),
  flag_reserved = ProtoField.uint8("itbp.flags.reserved", "reserved", base.HEX, nil, 0xF0, "must be 0"),
  msg_type = ProtoField.uint8("itbp.msg_type", "msg_type", base.HEX, VS_MSGTYPE, nil, "message number"),
  seq = ProtoField.uint16("itbp.seq", "seq", base.DEC, nil, nil, "chosen by the requester, echoed in the reply; events: the pump's counter"),
  payload_len = ProtoField.uint16("itbp.payload_len", "payload_len", base.DEC, nil, nil, "bytes of payload"),
  session_id = ProtoField.uint32("itbp.session_id", "session_id", base.HEX, nil, nil, "the session this frame belongs to"),
  counter = ProtoField.uint64("itbp.counter", "counter", base.DEC, nil, nil, "per-direction counter, strictly increasing"),
  payload = ProtoField.bytes("itbp.payload", "payload", base.NONE, "payload bytes"),
  tag = ProtoField.bytes("itbp.tag", "tag (not verified)", base.NONE, "HMAC-SHA256(direction key, header..payload)[:16]; not verified"),
  crc = ProtoField.uint32("itbp.crc", "crc", base.HEX, nil, nil, "CRC-32C over every preceding byte"),
  crc_computed = ProtoField.uint32("itbp.crc.computed", "computed crc", base.HEX, nil, nil, "CRC-32C computed by the dissector"),
  crc_good = ProtoField.bool("itbp.crc.good", "crc good", base.NONE, nil, nil, "the CRC matches"),
  status = ProtoField.uint16("itbp.status", "status", base.DEC, VS_ERRORCODE, nil, "ErrorCode of the reply (0 = OK)"),
  reason = ProtoField.string("itbp.reason", "reason", base.UNICODE, "human-readable reason of a refusal"),
}
local E = {
  bad_crc = ProtoExpert.new("itbp.crc.bad", "CRC-32C does not match", expert.group.CHECKSUM, expert.severity.ERROR),
  bad_cobs = ProtoExpert.new("itbp.cobs.bad", "not valid COBS", expert.group.MALFORMED, expert.severity.ERROR),
  malformed = ProtoExpert.new("itbp.malformed", "payload does not match the catalog's layout", expert.group.MALFORMED, expert.severity.ERROR),
  refused = ProtoExpert.new("itbp.refused", "the pump refused the request", expert.group.RESPONSE_CODE, expert.severity.NOTE),
}

do
  local list = {}
  for _, v in pairs(H) do list[#list + 1] = v end
  for _, v in ipairs(F) do list[#list + 1] = v end
  itbp.fields = list
  itbp.experts = { E.bad_crc, E.bad_cobs, E.malformed, E.refused }
end

-- bit operations: Lua 5.2 has bit32; 5.3+ has operators (compiled at run time for 5.2's parser)
local bxor, band, rshift
if bit32 then
  bxor, band, rshift = bit32.bxor, bit32.band, bit32.rshift
else
  bxor = load("return function(a, b) return a ~ b end")()
  band = load("return function(a, b) return a & b end")()
  rshift = load("return function(a, n) return (a & 0xFFFFFFFF) >> n end")()
end

local CRC_TABLE = {}
for i = 0, 255 do
  local crc = i
  for _ = 1, 8 do
    if band(crc, 1) == 1 then crc = bxor(rshift(crc, 1), 0x82F63B78) else crc = rshift(crc, 1) end
  end
  CRC_TABLE[i] = crc
end

local function crc32c(tvb, offset, length)
  local crc = 0xFFFFFFFF
  for i = offset, offset + length - 1 do
    crc = bxor(rshift(crc, 8), CRC_TABLE[band(bxor(crc, tvb(i, 1):uint()), 0xFF)])
  end
  return bxor(crc, 0xFFFFFFFF) % 4294967296
end

-- COBS decoding of bytes [0, n): a hex string of the decoded frame, or nil if not valid COBS
local function cobs_decode(tvb, n)
  local out, i = {}, 0
  while i < n do
    local code = tvb(i, 1):uint()
    if code == 0 or i + code > n then return nil end
    for j = i + 1, i + code - 1 do out[#out + 1] = string.format("%02x", tvb(j, 1):uint()) end
    i = i + code
    if code < 255 and i < n then out[#out + 1] = "00" end
  end
  return table.concat(out)
end

local function pump_time(v)
  if v == 0 then return "none" end
  return os.date("!%Y-%m-%d %H:%M:%S", v) .. " pump time"
end

local function bit_names(names, v)
  local set = {}
  for bitv, name in pairs(names) do
    if bitv ~= 0 and band(v, bitv) == bitv then set[#set + 1] = { bitv, name } end
  end
  table.sort(set, function(a, b) return a[1] < b[1] end)
  local out = {}
  for _, p in ipairs(set) do out[#out + 1] = p[2] end
  if #out == 0 then return "none" end
  return table.concat(out, "|")
end

local dissect_items

-- one descriptor at off; returns the new offset and the value read (ints), or nil on a short payload
local function dissect_one(d, tvb, off, stop, tree, values)
  local k = d.k
  if k == "int" then
    if off + d.size > stop then return nil end
    local range = tvb(off, d.size)
    local item = tree:add(d.f, range)
    local v
    if d.size == 8 then v = range:uint64() elseif d.signed then v = range:int() else v = range:uint() end
    if d.unit then item:append_text(" " .. d.unit) end
    if d.time then item:append_text(" (" .. pump_time(v) .. ")") end
    if d.bits then item:append_text(" (" .. bit_names(d.bits, v) .. ")") end
    return off + d.size, v
  elseif k == "bool" then
    if off + 1 > stop then return nil end
    tree:add(d.f, tvb(off, 1), tvb(off, 1):uint() ~= 0)
    return off + 1
  elseif k == "bytes" then
    if off + d.size > stop then return nil end
    tree:add(d.f, tvb(off, d.size))
    return off + d.size
  elseif k == "text" then
    if off + 1 > stop then return nil end
    local n = tvb(off, 1):uint()
    if off + 1 + n > stop then return nil end
    if n == 0 then tree:add(d.f, tvb(off, 1), "") else tree:add(d.f, tvb(off + 1, n), tvb(off + 1, n):string(ENC_UTF_8)) end
    return off + 1 + n
  elseif k == "rest" then
    if stop > off then tree:add(d.f, tvb(off, stop - off)) else tree:add(d.f, tvb(off, 0)) end
    return stop
  elseif k == "struct" then
    local sub = tree
    if d.f then sub = tree:add(d.f, tvb(off, 0)) end
    local start = off
    off = dissect_items(d.items, tvb, off, stop, sub, {})
    if off and d.f and off > start then sub:set_len(off - start) end
    return off
  elseif k == "switch" then
    local case = d.cases[values[d.key]]
    if case == nil then return nil end
    return dissect_items(case, tvb, off, stop, tree, {})
  elseif k == "array" then
    local n, start = d.fixed, off
    if d.count then
      if off + d.count > stop then return nil end
      n = tvb(off, d.count):uint()
    end
    local sub = tree:add(d.f, tvb(off, d.count or 0))
    sub:append_text(" (" .. n .. " items)")
    if d.count then off = off + d.count end
    for i = 1, n do
      if d.item.k == "struct" then
        local entry = sub:add(tvb(off, 0), d.item.label .. " [" .. (i - 1) .. "]")
        local entry_start = off
        off = dissect_items(d.item.items, tvb, off, stop, entry, {})
        if off == nil then return nil end
        entry:set_len(off - entry_start)
      else
        off = dissect_one(d.item, tvb, off, stop, sub, {})
        if off == nil then return nil end
      end
    end
    sub:set_len(off - start)
    return off
  end
  return nil
end

dissect_items = function(items, tvb, off, stop, tree, values)
  for _, d in ipairs(items) do
    local v
    off, v = dissect_one(d, tvb, off, stop, tree, values)
    if off == nil then return nil end
    if d.name and v ~= nil then values[d.name] = v end
  end
  return off
end

local dir_field = nil
do
  local ok, field = pcall(Field.new, "frame.packet_flags_direction")
  if ok then dir_field = field end
end

local function capture_direction()
  if dir_field then
    local ok, v = pcall(dir_field)
    if ok and v then
      local n = v.value
      if n == 1 then return "from_pump" elseif n == 2 then return "to_pump" end
    end
  end
  return nil
end

local function dissect_payload(msg, kind, dtvb, off, stop, tree, pinfo)
  local spec = MSG[msg]
  if spec == nil then
    if stop > off then tree:add(H.payload, dtvb(off, stop - off)) end
    return ""
  end
  local items
  if kind == "reply" then
    if stop - off < 2 then tree:add_proto_expert_info(E.malformed); return "" end
    local status = dtvb(off, 2):uint()
    local st = tree:add(H.status, dtvb(off, 2))
    off = off + 2
    if status ~= 0 then
      st:add_proto_expert_info(E.refused)
      local name = VS_ERRORCODE[status] or tostring(status)
      if stop > off then
        local n = dtvb(off, 1):uint()
        if off + 1 + n == stop then
          local reason = n > 0 and dtvb(off + 1, n):string(ENC_UTF_8) or ""
          tree:add(H.reason, dtvb(off, stop - off), reason)
        else
          tree:add_proto_expert_info(E.malformed)
        end
      end
      return " " .. name
    end
    items = spec.reply
  elseif kind == "event" then
    items = spec.event
  else
    items = spec.request
  end
  if items == nil then tree:add_proto_expert_info(E.malformed); return "" end
  local done = dissect_items(items, dtvb, off, stop, tree, {})
  if done == nil or done ~= stop then tree:add_proto_expert_info(E.malformed) end
  if kind == "reply" then return " OK" end
  return ""
end

function itbp.dissector(tvb, pinfo, tree)
  pinfo.cols.protocol = "ITBP"
  local n = tvb:len()
  local delimited = n > 0 and tvb(n - 1, 1):uint() == 0
  local run = delimited and n - 1 or n
  local root = tree:add(itbp, tvb(), "ITBP")
  root:add(H.wire_len, tvb(), n)
  root:add(H.delimited, tvb(), delimited)
  local direction = capture_direction()
  local hex = cobs_decode(tvb, run)
  if hex == nil or run == 0 then
    root:add(H.dropped, tvb(), "BAD_COBS"):add_proto_expert_info(E.bad_cobs)
    if direction then root:add(H.direction, tvb(), direction) end
    pinfo.cols.info = "dropped BAD_COBS"
    return n
  end
  local dtvb = ByteArray.new(hex):tvb("COBS-decoded")
  local size = dtvb:len()
  if size < HEADER_SIZE + CRC_SIZE then
    root:add(H.dropped, tvb(), "TRUNCATED")
    if direction then root:add(H.direction, tvb(), direction) end
    pinfo.cols.info = "dropped TRUNCATED"
    return n
  end
  local flags = dtvb(1, 1):uint()
  local kind = "request"
  if band(flags, FLAG_EVENT) ~= 0 then kind = "event" elseif band(flags, FLAG_RESPONSE) ~= 0 then kind = "reply" end
  if direction == nil then
    direction = (kind == "request") and "to_pump" or "from_pump"
  end
  root:add(H.direction, tvb(), direction)
  root:add(H.kind, tvb(), kind)
  local msg = dtvb(2, 1):uint()
  local spec = MSG[msg]
  local msg_name = spec and spec.name or string.format("0x%02x", msg)
  root:append_text(", " .. msg_name .. " " .. kind)
  root:add(H.version, dtvb(0, 1))
  local ft = root:add(H.flags, dtvb(1, 1))
  ft:add(H.flag_auth, dtvb(1, 1))
  ft:add(H.flag_response, dtvb(1, 1))
  ft:add(H.flag_event, dtvb(1, 1))
  ft:add(H.flag_more, dtvb(1, 1))
  ft:add(H.flag_reserved, dtvb(1, 1))
  root:add(H.msg_type, dtvb(2, 1))
  root:add(H.seq, dtvb(3, 2))
  root:add(H.payload_len, dtvb(5, 2))
  local seq, plen = dtvb(3, 2):uint(), dtvb(5, 2):uint()
  local info = string.format("%s %s %s seq=%d", direction == "to_pump" and "->" or "<-", msg_name, kind, seq)
  if band(flags, FLAG_MORE) ~= 0 then info = info .. " MORE" end
  local crc_off = size - CRC_SIZE
  local computed = crc32c(dtvb, 0, crc_off)
  local good = computed == dtvb(crc_off, 4):uint()
  local payload_off, auth = HEADER_SIZE, dtvb(0, 1):uint() == PROTOCOL_VERSION and band(flags, FLAG_AUTH) ~= 0
  if auth then
    if size < HEADER_SIZE + AUTH_PREFIX_SIZE + TAG_SIZE + CRC_SIZE then
      root:add(H.dropped, tvb(), "BAD_LENGTH")
      pinfo.cols.info = info .. " dropped BAD_LENGTH"
      return n
    end
    root:add(H.session_id, dtvb(7, 4))
    root:add(H.counter, dtvb(11, 8))
    payload_off = HEADER_SIZE + AUTH_PREFIX_SIZE
    info = info .. string.format(" session=0x%08x counter=%s", dtvb(7, 4):uint(), tostring(dtvb(11, 8):uint64()))
  end
  local payload_end = auth and crc_off - TAG_SIZE or crc_off
  local length_ok = payload_end - payload_off == plen and plen <= MAX_PAYLOAD
  if not good then
    root:add(H.dropped, tvb(), "BAD_CRC")
    info = info .. " BAD_CRC"
  elseif not length_ok then
    root:add(H.dropped, tvb(), "BAD_LENGTH")
    info = info .. " BAD_LENGTH"
  end
  if length_ok and dtvb(0, 1):uint() == PROTOCOL_VERSION then
    local label = spec and (spec.name .. " " .. kind) or "payload"
    local ptree = root:add(dtvb(payload_off, plen), label)
    if plen > 0 then ptree:add(H.payload, dtvb(payload_off, plen)) end
    info = info .. (dissect_payload(msg, kind, dtvb, payload_off, payload_end, ptree, pinfo) or "")
  elseif payload_end > payload_off then
    root:add(H.payload, dtvb(payload_off, payload_end - payload_off))
  end
  if auth then
    root:add(H.tag, dtvb(payload_end, TAG_SIZE))
  end
  local ct = root:add(H.crc, dtvb(crc_off, 4))
  ct:add(H.crc_computed, dtvb(crc_off, 4), computed)
  ct:add(H.crc_good, dtvb(crc_off, 4), good)
  if not good then ct:add_proto_expert_info(E.bad_crc) end
  pinfo.cols.info = info
  return n
end

DissectorTable.get("wtap_encap"):add(wtap.USER0, itbp)
