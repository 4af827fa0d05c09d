-- dlms.lua: a Wireshark dissector of DLMS/COSEM (IEC 62056) for the captures of dlmstw.
--
-- Frames: the IEC 62056-47 wrapper (TCP and UDP) and IEC 62056-46 HDLC frames
-- (frame format type 3, over TCP as dlmstw's HDLC meters and gateways carry them).
-- APDUs (Green Book 9.5): AARQ/AARE/RLRQ/RLRE with the xDLMS InitiateRequest/Response
-- they carry, GET/SET/ACTION requests and responses (normal, next, with-list, blocks),
-- EXCEPTION-Response, Data-Notification, and ciphered APDUs (glo-/ded- and
-- general-glo/ded-ciphering): the security header always; the plain APDU when the
-- keys are given in the preferences (Edit > Preferences > Protocols > DLMS, or
-- tshark -o dlms.block_cipher_key:HEX -o dlms.authentication_key:HEX).
--
-- Deciphering: Wireshark 4.0 as Debian ships it gives Lua no cipher (no Gcrypt
-- bindings), so AES (FIPS-197) and GCM (NIST SP 800-38D) are written below in
-- plain Lua 5.2 with bit32. They are slow next to C but ample for a capture's APDUs.
-- The sender's system title comes from the AARQ/AARE of the same connection
-- (calling-/responding-AP-title), from general-glo-ciphering itself, or from the
-- preferences; a dedicated key from the deciphered InitiateRequest of the connection.
--
-- Ports: TCP and UDP ports from the preferences (default 4059), and heuristics on
-- any other port: a wrapper header whose length matches, or an HDLC frame whose FCS does.
-- Field names follow dlmstw's own dissector (dlmstw/dissector): `dlms.apdu`,
-- `dlms.class_id`, `dlms.instance_id`, `dlms.data`... (tshark -G fields | grep dlms.)
--
-- Install: copy this file into Wireshark's personal Lua plugins folder
-- (~/.local/lib/wireshark/plugins/), or run tshark -X lua_script:dlms.lua ...
-- `dlmstw-client wireshark` prints where this file is.

local band, bor, bxor, lshift, rshift = bit32.band, bit32.bor, bit32.bxor, bit32.lshift, bit32.rshift

-- Wireshark 4.6 and later have a dissector named "dlms" of their own: this one then takes "dlmstw".
local ok, dlms = pcall(Proto, "dlms", "DLMS/COSEM (dlmstw)")
if not ok then dlms = Proto("dlmstw", "DLMS/COSEM (dlmstw)") end
local P = dlms.name

---------------------------------------------------------------------------
-- Names of the standard (Green Book 9.5, Blue Book 4); checked against dlmstw.enums by tests/test_wireshark.py.

local APDU_TAGS = {
  [0x01] = "initiate-request", [0x08] = "initiate-response", [0x0E] = "confirmed-service-error",
  [0x0F] = "data-notification",
  [0x21] = "glo-initiate-request", [0x28] = "glo-initiate-response", [0x2E] = "glo-confirmed-service-error",
  [0x41] = "ded-initiate-request", [0x48] = "ded-initiate-response", [0x4E] = "ded-confirmed-service-error",
  [0x60] = "aarq", [0x61] = "aare", [0x62] = "rlrq", [0x63] = "rlre",
  [0xC0] = "get-request", [0xC1] = "set-request", [0xC2] = "event-notification-request",
  [0xC3] = "action-request", [0xC4] = "get-response", [0xC5] = "set-response", [0xC7] = "action-response",
  [0xC8] = "glo-get-request", [0xC9] = "glo-set-request", [0xCA] = "glo-event-notification-request",
  [0xCB] = "glo-action-request", [0xCC] = "glo-get-response", [0xCD] = "glo-set-response",
  [0xCF] = "glo-action-response",
  [0xD0] = "ded-get-request", [0xD1] = "ded-set-request", [0xD2] = "ded-event-notification-request",
  [0xD3] = "ded-action-request", [0xD4] = "ded-get-response", [0xD5] = "ded-set-response",
  [0xD7] = "ded-action-response",
  [0xD8] = "exception-response", [0xDB] = "general-glo-ciphering", [0xDC] = "general-ded-ciphering",
  [0xDD] = "general-ciphering", [0xDF] = "general-signing", [0xE0] = "general-block-transfer",
}

-- The CHOICE each service's second octet names.
local SERVICE_CHOICES = {
  [0xC0] = { "normal", "next", "with-list" },
  [0xC4] = { "normal", "with-datablock", "with-list" },
  [0xC1] = { "normal", "with-first-datablock", "with-datablock", "with-list", "with-list-and-first-datablock" },
  [0xC5] = { "normal", "datablock", "last-datablock", "last-datablock-with-list", "with-list" },
  [0xC3] = { "normal", "next-pblock", "with-list", "with-first-pblock", "with-list-and-first-pblock",
             "with-pblock" },
  [0xC7] = { "normal", "with-pblock", "with-list", "next-pblock" },
}

local DATA_TYPES = {
  [0] = "null-data", [1] = "array", [2] = "structure", [3] = "boolean", [4] = "bit-string", [5] = "double-long",
  [6] = "double-long-unsigned", [9] = "octet-string", [10] = "visible-string", [12] = "utf8-string", [13] = "bcd",
  [15] = "integer", [16] = "long", [17] = "unsigned", [18] = "long-unsigned", [19] = "compact-array",
  [20] = "long64", [21] = "long64-unsigned", [22] = "enum", [23] = "float32", [24] = "float64",
  [25] = "date-time", [26] = "date", [27] = "time", [255] = "dont-care",
}
-- Octets of the fixed-size types; a "sign" marks the signed integers.
local FIXED = { [0] = 0, [3] = 1, [5] = 4, [6] = 4, [13] = 1, [15] = 1, [16] = 2, [17] = 1, [18] = 2, [20] = 8,
                [21] = 8, [22] = 1, [23] = 4, [24] = 8, [25] = 12, [26] = 5, [27] = 4, [255] = 0 }
local SIGNED = { [5] = true, [15] = true, [16] = true, [20] = true }

local DATA_ACCESS_RESULTS = {
  [0] = "success", [1] = "hardware-fault", [2] = "temporary-failure", [3] = "read-write-denied",
  [4] = "object-undefined", [9] = "object-class-inconsistent", [11] = "object-unavailable",
  [12] = "type-unmatched", [13] = "scope-of-access-violated", [14] = "data-block-unavailable",
  [15] = "long-get-aborted", [16] = "no-long-get-in-progress", [17] = "long-set-aborted",
  [18] = "no-long-set-in-progress", [19] = "data-block-number-invalid", [250] = "other-reason",
}
local ACTION_RESULTS = {
  [0] = "success", [1] = "hardware-fault", [2] = "temporary-failure", [3] = "read-write-denied",
  [4] = "object-undefined", [9] = "object-class-inconsistent", [11] = "object-unavailable",
  [12] = "type-unmatched", [13] = "scope-of-access-violated", [14] = "data-block-unavailable",
  [15] = "long-action-aborted", [16] = "no-long-action-in-progress", [250] = "other-reason",
}
local STATE_ERRORS = { [1] = "service-not-allowed", [2] = "service-unknown" }
local SERVICE_ERRORS = { [1] = "operation-not-possible", [2] = "service-not-supported", [3] = "other-reason",
                         [4] = "pdu-too-long", [5] = "deciphering-error", [6] = "invocation-counter-error" }
local ASSOCIATION_RESULTS = { [0] = "accepted", [1] = "rejected-permanent", [2] = "rejected-transient" }
local USER_DIAGNOSTICS = {
  [0] = "null", [1] = "no-reason-given", [2] = "application-context-name-not-supported",
  [3] = "calling-AP-title-not-recognized", [4] = "calling-AP-invocation-identifier-not-recognized",
  [5] = "calling-AE-qualifier-not-recognized", [6] = "calling-AE-invocation-identifier-not-recognized",
  [7] = "called-AP-title-not-recognized", [8] = "called-AP-invocation-identifier-not-recognized",
  [9] = "called-AE-qualifier-not-recognized", [10] = "called-AE-invocation-identifier-not-recognized",
  [11] = "authentication-mechanism-name-not-recognised", [12] = "authentication-mechanism-name-required",
  [13] = "authentication-failure", [14] = "authentication-required",
}
local PROVIDER_DIAGNOSTICS = { [0] = "null", [1] = "no-reason-given", [2] = "no-common-acse-version" }
-- Last arc of 2.16.756.5.8.1.x and 2.16.756.5.8.2.x (Green Book 9.4.2.2.2, 9.4.2.2.3).
local APPLICATION_CONTEXTS = { [1] = "Logical name referencing, no ciphering",
                               [2] = "Short name referencing, no ciphering",
                               [3] = "Logical name referencing with ciphering",
                               [4] = "Short name referencing with ciphering" }
local MECHANISMS = { [0] = "lowest level security (no authentication)", [1] = "LLS (low level security, password)",
                     [2] = "HLS (high level security, manufacturer specific)", [3] = "HLS MD5", [4] = "HLS SHA-1",
                     [5] = "HLS GMAC", [6] = "HLS SHA-256", [7] = "HLS ECDSA" }
-- Conformance block bits 0..23, most significant first (Green Book 9.4.6.1).
local CONFORMANCE = {
  "reserved-zero", "general-protection", "general-block-transfer", "read", "write", "unconfirmed-write",
  "delta-value-encoding", "reserved-seven", "attribute0-supported-with-set", "priority-mgmt-supported",
  "attribute0-supported-with-get", "block-transfer-with-get-or-read", "block-transfer-with-set-or-write",
  "block-transfer-with-action", "multiple-references", "information-report", "data-notification", "access",
  "parameterized-access", "get", "set", "selective-access", "event-notification", "action",
}
local CLASSES = {
  [1] = "Data", [3] = "Register", [4] = "Extended register", [5] = "Demand register", [7] = "Profile generic",
  [8] = "Clock", [9] = "Script table", [11] = "Special days table", [15] = "Association LN",
  [17] = "SAP assignment", [18] = "Image transfer", [20] = "Activity calendar", [21] = "Register monitor",
  [22] = "Single action schedule", [23] = "IEC HDLC setup", [40] = "Push setup", [41] = "TCP-UDP setup",
  [42] = "IPv4 setup", [64] = "Security setup", [70] = "Disconnect control", [71] = "Limiter",
}
local SUITES = { [0] = "AES-GCM-128", [1] = "ECDH-ECDSA-AES-GCM-128-SHA-256", [2] = "ECDH-ECDSA-AES-GCM-256-SHA-384" }
-- ACSE members by BER tag, per APDU (Green Book 9.3, ISO 8650).
local ACSE_MEMBERS = {
  [0x60] = { [0x80] = "protocol-version", [0xA1] = "application-context-name", [0xA2] = "called-AP-title",
             [0xA3] = "called-AE-qualifier", [0xA4] = "called-AP-invocation-id", [0xA5] = "called-AE-invocation-id",
             [0xA6] = "calling-AP-title", [0xA7] = "calling-AE-qualifier", [0xA8] = "calling-AP-invocation-id",
             [0xA9] = "calling-AE-invocation-id", [0x8A] = "sender-acse-requirements", [0x8B] = "mechanism-name",
             [0xAC] = "calling-authentication-value", [0xBD] = "implementation-information",
             [0xBE] = "user-information" },
  [0x61] = { [0x80] = "protocol-version", [0xA1] = "application-context-name", [0xA2] = "result",
             [0xA3] = "result-source-diagnostic", [0xA4] = "responding-AP-title",
             [0xA5] = "responding-AE-qualifier", [0xA6] = "responding-AP-invocation-id",
             [0xA7] = "responding-AE-invocation-id", [0x88] = "responder-acse-requirements",
             [0x89] = "mechanism-name", [0xAA] = "responding-authentication-value",
             [0xBD] = "implementation-information", [0xBE] = "user-information" },
  [0x62] = { [0x80] = "reason", [0xBE] = "user-information" },
  [0x63] = { [0x80] = "reason", [0xBE] = "user-information" },
}
local RELEASE_REASONS = { [0x62] = { [0] = "normal", [1] = "urgent", [30] = "user-defined" },
                          [0x63] = { [0] = "normal", [1] = "not-finished", [30] = "user-defined" } }
-- HDLC control fields without their P/F bit (Green Book 8.4.3.4).
local HDLC_U = { [0x83] = "SNRM", [0x43] = "DISC", [0x63] = "UA", [0x0F] = "DM", [0x87] = "FRMR", [0x03] = "UI" }
local HDLC_S = { [0x01] = "RR", [0x05] = "RNR" }
-- HDLC parameter negotiation (Green Book 8.4.5.3.2).
local HDLC_PARAMETERS = { [0x05] = "max-info-field-length-transmit", [0x06] = "max-info-field-length-receive",
                          [0x07] = "window-size-transmit", [0x08] = "window-size-receive" }

---------------------------------------------------------------------------
-- Fields

local function named(values, value)
  local name = values[value]
  return name and string.format("%s (%d)", name, value) or string.format("%d (not known here)", value)
end

local F = {
  wrapper = ProtoField.bytes(P .. ".wrapper", "Wrapper header"),
  version = ProtoField.uint16(P .. ".wrapper.version", "version"),
  source_wport = ProtoField.uint16(P .. ".wrapper.source_wport", "source-wport"),
  destination_wport = ProtoField.uint16(P .. ".wrapper.destination_wport", "destination-wport"),
  length = ProtoField.uint16(P .. ".wrapper.length", "length"),
  hdlc = ProtoField.bytes(P .. ".hdlc", "HDLC frame"),
  hdlc_format = ProtoField.uint16(P .. ".hdlc.format", "frame-format", base.HEX),
  hdlc_segmented = ProtoField.bool(P .. ".hdlc.segmented", "segmentation", 16, nil, 0x0800),
  hdlc_length = ProtoField.uint16(P .. ".hdlc.length", "frame-length", base.DEC, nil, 0x07FF),
  hdlc_destination = ProtoField.string(P .. ".hdlc.destination", "destination-address"),
  hdlc_source = ProtoField.string(P .. ".hdlc.source", "source-address"),
  hdlc_control = ProtoField.uint8(P .. ".hdlc.control", "control", base.HEX),
  hdlc_frame_type = ProtoField.string(P .. ".hdlc.frame_type", "frame-type"),
  hdlc_poll_final = ProtoField.bool(P .. ".hdlc.poll_final", "poll/final", 8, nil, 0x10),
  hdlc_hcs = ProtoField.uint16(P .. ".hdlc.hcs", "hcs", base.HEX),
  hdlc_fcs = ProtoField.uint16(P .. ".hdlc.fcs", "fcs", base.HEX),
  hdlc_llc = ProtoField.bytes(P .. ".hdlc.llc", "llc-header"),
  hdlc_parameter = ProtoField.string(P .. ".hdlc.parameter", "parameter"),
  apdu = ProtoField.uint8(P .. ".apdu", "APDU", base.HEX, APDU_TAGS),
  service = ProtoField.string(P .. ".service", "service"),
  invoke_id_and_priority = ProtoField.uint8(P .. ".invoke_id_and_priority", "invoke-id-and-priority", base.HEX),
  invoke_id = ProtoField.uint8(P .. ".invoke_id", "invoke-id", base.DEC, nil, 0x0F),
  service_class = ProtoField.bool(P .. ".service_class", "service-class confirmed", 8, nil, 0x40),
  priority = ProtoField.bool(P .. ".priority", "priority high", 8, nil, 0x80),
  long_invoke_id = ProtoField.uint32(P .. ".long_invoke_id_and_priority", "long-invoke-id-and-priority", base.HEX),
  class_id = ProtoField.uint16(P .. ".class_id", "class-id", base.DEC, CLASSES),
  instance_id = ProtoField.string(P .. ".instance_id", "instance-id"),
  attribute_id = ProtoField.int8(P .. ".attribute_id", "attribute-id"),
  method_id = ProtoField.int8(P .. ".method_id", "method-id"),
  access_selector = ProtoField.uint8(P .. ".access_selector", "access-selector"),
  data_access_result = ProtoField.uint8(P .. ".data_access_result", "data-access-result", base.DEC,
                                        DATA_ACCESS_RESULTS),
  action_result = ProtoField.uint8(P .. ".action_result", "action-result", base.DEC, ACTION_RESULTS),
  last_block = ProtoField.bool(P .. ".last_block", "last-block"),
  block_number = ProtoField.uint32(P .. ".block_number", "block-number"),
  raw_data = ProtoField.bytes(P .. ".raw_data", "raw-data"),
  data = ProtoField.string(P .. ".data", "data"),
  confirmed_service_error = ProtoField.string(P .. ".confirmed_service_error", "ConfirmedServiceError"),
  state_error = ProtoField.uint8(P .. ".state_error", "state-error", base.DEC, STATE_ERRORS),
  service_error = ProtoField.uint8(P .. ".service_error", "service-error", base.DEC, SERVICE_ERRORS),
  acse = ProtoField.string(P .. ".acse", "ACSE member"),
  application_context_name = ProtoField.string(P .. ".application_context_name", "application-context-name"),
  mechanism_name = ProtoField.string(P .. ".mechanism_name", "mechanism-name"),
  calling_ap_title = ProtoField.bytes(P .. ".calling_ap_title", "calling-AP-title"),
  responding_ap_title = ProtoField.bytes(P .. ".responding_ap_title", "responding-AP-title"),
  calling_authentication_value = ProtoField.bytes(P .. ".calling_authentication_value",
                                                  "calling-authentication-value"),
  responding_authentication_value = ProtoField.bytes(P .. ".responding_authentication_value",
                                                     "responding-authentication-value"),
  result = ProtoField.uint8(P .. ".result", "result", base.DEC, ASSOCIATION_RESULTS),
  diagnostic = ProtoField.string(P .. ".result_source_diagnostic", "result-source-diagnostic"),
  reason = ProtoField.string(P .. ".reason", "reason"),
  dlms_version = ProtoField.uint8(P .. ".dlms_version", "dlms-version-number"),
  conformance = ProtoField.uint24(P .. ".conformance", "conformance", base.HEX),
  max_pdu_size = ProtoField.uint16(P .. ".max_receive_pdu_size", "max-receive-pdu-size"),
  vaa_name = ProtoField.uint16(P .. ".vaa_name", "vaa-name", base.HEX),
  dedicated_key = ProtoField.bytes(P .. ".dedicated_key", "dedicated-key"),
  response_allowed = ProtoField.bool(P .. ".response_allowed", "response-allowed"),
  quality_of_service = ProtoField.int8(P .. ".quality_of_service", "quality-of-service"),
  security_control = ProtoField.uint8(P .. ".security_control", "security-control", base.HEX),
  security_suite = ProtoField.uint8(P .. ".security_suite", "security-suite", base.DEC, SUITES, 0x0F),
  sc_authentication = ProtoField.bool(P .. ".security_control.authentication", "authentication", 8, nil, 0x10),
  sc_encryption = ProtoField.bool(P .. ".security_control.encryption", "encryption", 8, nil, 0x20),
  sc_broadcast = ProtoField.bool(P .. ".security_control.broadcast", "broadcast key", 8, nil, 0x40),
  sc_compression = ProtoField.bool(P .. ".security_control.compression", "compression", 8, nil, 0x80),
  invocation_counter = ProtoField.uint32(P .. ".invocation_counter", "invocation-counter"),
  system_title = ProtoField.bytes(P .. ".system_title", "system-title"),
  ciphertext = ProtoField.bytes(P .. ".ciphertext", "ciphertext"),
  authentication_tag = ProtoField.bytes(P .. ".authentication_tag", "authentication-tag"),
  deciphered = ProtoField.string(P .. ".deciphered", "deciphered"),
  date_time = ProtoField.string(P .. ".date_time", "date-time"),
  block_control = ProtoField.uint8(P .. ".block_control", "block-control", base.HEX),
  unparsed = ProtoField.string(P .. ".unparsed", "unparsed"),
}
local CONFORMANCE_FIELDS = {}
for bit, name in ipairs(CONFORMANCE) do
  CONFORMANCE_FIELDS[bit] = ProtoField.bool(P .. ".conformance." .. name:gsub("-", "_"), name, 24, nil,
                                            lshift(1, 24 - bit))
end
local all_fields = {}
for _, field in pairs(F) do all_fields[#all_fields + 1] = field end
for _, field in ipairs(CONFORMANCE_FIELDS) do all_fields[#all_fields + 1] = field end
dlms.fields = all_fields

local E_MALFORMED = ProtoExpert.new(P .. ".malformed", "Malformed DLMS", expert.group.MALFORMED, expert.severity.ERROR)
local E_SECURITY = ProtoExpert.new(P .. ".not_verified", "Protection not verified", expert.group.DECRYPTION,
                                   expert.severity.WARN)
dlms.experts = { E_MALFORMED, E_SECURITY }

---------------------------------------------------------------------------
-- Preferences

dlms.prefs.tcp_ports = Pref.range("TCP ports", "4059", "TCP ports of meters (wrapper or HDLC)", 65535)
dlms.prefs.udp_ports = Pref.range("UDP ports", "4059", "UDP ports of meters (wrapper)", 65535)
dlms.prefs.heuristics = Pref.bool("Heuristics", true, "Find wrapper and HDLC frames on other ports too")
dlms.prefs.block_cipher_key = Pref.string("Block cipher key (hex)", "",
                                          "Global unicast encryption key, 16 or 32 octets")
dlms.prefs.authentication_key = Pref.string("Authentication key (hex)", "", "Global authentication key")
dlms.prefs.dedicated_key = Pref.string("Dedicated key (hex)", "",
                                       "Used for ded- APDUs when the InitiateRequest could not be read")
dlms.prefs.client_system_title = Pref.string("Client system title (hex)", "",
                                             "Used for requests when no AARQ of the connection shows it")
dlms.prefs.server_system_title = Pref.string("Server system title (hex)", "",
                                             "Used for responses and pushes when no AARE shows it")

---------------------------------------------------------------------------
-- AES-128/256 encryption (FIPS-197) and GCM (NIST SP 800-38D), on tables of octets.

local SBOX = {}
do -- the S-box from the multiplicative inverse in GF(2^8) and the affine map (FIPS-197 5.1.1)
  local function rotl8(x, n) return band(bor(lshift(x, n), rshift(x, 8 - n)), 0xFF) end
  local p, q = 1, 1
  repeat
    p = band(bxor(p, lshift(p, 1), band(p, 0x80) ~= 0 and 0x1B or 0), 0xFF) -- p * 3
    q = bxor(q, lshift(q, 1)); q = bxor(q, lshift(q, 2)); q = band(bxor(q, lshift(q, 4)), 0xFF) -- q / 3
    if band(q, 0x80) ~= 0 then q = bxor(q, 0x09) end
    SBOX[p] = bxor(q, rotl8(q, 1), rotl8(q, 2), rotl8(q, 3), rotl8(q, 4), 0x63)
  until p == 1
  SBOX[0] = 0x63
end

local function xtime(a)
  a = lshift(a, 1)
  return a >= 0x100 and bxor(a, 0x11B) or a
end

local function expand_key(key) -- key: 16 or 32 octets -> round keys (octets) and rounds
  local nk = #key / 4
  local w, rcon = {}, 1
  for i = 1, #key do w[i] = key[i] end
  for i = nk, 4 * (nk + 7) - 1 do
    local t = { w[4 * i - 3], w[4 * i - 2], w[4 * i - 1], w[4 * i] }
    if i % nk == 0 then
      t = { bxor(SBOX[t[2]], rcon), SBOX[t[3]], SBOX[t[4]], SBOX[t[1]] }
      rcon = xtime(rcon)
    elseif nk > 6 and i % nk == 4 then
      t = { SBOX[t[1]], SBOX[t[2]], SBOX[t[3]], SBOX[t[4]] }
    end
    for b = 1, 4 do w[4 * i + b] = bxor(w[4 * (i - nk) + b], t[b]) end
  end
  return { w = w, rounds = nk + 6 }
end

local function encrypt_block(k, input) -- 16 octets in, 16 out; the state is column-major
  local w, s = k.w, {}
  for i = 1, 16 do s[i] = bxor(input[i], w[i]) end
  for round = 1, k.rounds do
    local t = {}
    for c = 0, 3 do -- SubBytes and ShiftRows
      for r = 0, 3 do t[1 + r + 4 * c] = SBOX[s[1 + r + 4 * ((c + r) % 4)]] end
    end
    if round < k.rounds then -- MixColumns
      for c = 1, 13, 4 do
        local a0, a1, a2, a3 = t[c], t[c + 1], t[c + 2], t[c + 3]
        local x = bxor(a0, a1, a2, a3)
        t[c], t[c + 1] = bxor(a0, x, xtime(bxor(a0, a1))), bxor(a1, x, xtime(bxor(a1, a2)))
        t[c + 2], t[c + 3] = bxor(a2, x, xtime(bxor(a2, a3))), bxor(a3, x, xtime(bxor(a3, a0)))
      end
    end
    for i = 1, 16 do s[i] = bxor(t[i], w[16 * round + i]) end
  end
  return s
end

local function words(block) -- 16 octets -> four 32-bit words, big-endian
  local out = {}
  for i = 0, 3 do
    out[i + 1] = bor(lshift(block[4 * i + 1], 24), lshift(block[4 * i + 2], 16), lshift(block[4 * i + 3], 8),
                     block[4 * i + 4])
  end
  return out
end

local function gf_multiply(x, h) -- X * H in GCM's GF(2^128), on words (SP 800-38D 6.3)
  local z, v = { 0, 0, 0, 0 }, { h[1], h[2], h[3], h[4] }
  for i = 0, 127 do
    if band(x[rshift(i, 5) + 1], lshift(1, 31 - i % 32)) ~= 0 then
      for j = 1, 4 do z[j] = bxor(z[j], v[j]) end
    end
    local carry = band(v[4], 1)
    v[4] = bor(rshift(v[4], 1), lshift(band(v[3], 1), 31))
    v[3] = bor(rshift(v[3], 1), lshift(band(v[2], 1), 31))
    v[2] = bor(rshift(v[2], 1), lshift(band(v[1], 1), 31))
    v[1] = rshift(v[1], 1)
    if carry == 1 then v[1] = bxor(v[1], 0xE1000000) end
  end
  return z
end

local function ghash(h, aad, ciphertext) -- GHASH over A, C and their lengths in bits
  local y = { 0, 0, 0, 0 }
  local function absorb(octets)
    for start = 1, #octets, 16 do
      local block = {}
      for i = 1, 16 do block[i] = octets[start + i - 1] or 0 end
      local x = words(block)
      for j = 1, 4 do y[j] = bxor(y[j], x[j]) end
      y = gf_multiply(y, h)
    end
  end
  absorb(aad)
  absorb(ciphertext)
  local lengths = { 0, #aad * 8, 0, #ciphertext * 8 }
  for j = 1, 4 do y[j] = bxor(y[j], lengths[j]) end
  return gf_multiply(y, h)
end

-- Decipher `ciphertext` with the 12-octet `iv`; returns the plain text and whether the
-- `tag` (its first #tag octets) verifies over `aad` (nil when there is no tag).
local function gcm_decrypt(key, iv, aad, ciphertext, tag)
  local k = expand_key(key)
  local counter = { iv[1], iv[2], iv[3], iv[4], iv[5], iv[6], iv[7], iv[8], iv[9], iv[10], iv[11], iv[12], 0, 0, 0, 1 }
  local function count(n)
    counter[13], counter[14] = band(rshift(n, 24), 0xFF), band(rshift(n, 16), 0xFF)
    counter[15], counter[16] = band(rshift(n, 8), 0xFF), band(n, 0xFF)
    return counter
  end
  local plain = {}
  for start = 1, #ciphertext, 16 do
    local stream = encrypt_block(k, count(1 + (start + 15) / 16))
    for i = 0, math.min(15, #ciphertext - start) do
      plain[start + i] = bxor(ciphertext[start + i], stream[i + 1])
    end
  end
  if not tag then return plain, nil end
  local s = ghash(words(encrypt_block(k, { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0 })), aad, ciphertext)
  local mask = encrypt_block(k, count(1))
  for i = 1, #tag do
    local word = s[rshift(i - 1, 2) + 1]
    local octet = band(rshift(word, 24 - 8 * ((i - 1) % 4)), 0xFF)
    if bxor(octet, mask[i]) ~= tag[i] then return plain, false end
  end
  return plain, true
end

---------------------------------------------------------------------------
-- Octets

local function octets_of(range) -- a TvbRange -> a table of octets
  local raw, out = range:raw(), {}
  for i = 1, #raw do out[i] = raw:byte(i) end
  return out
end

local function hex_octets(text) -- "0A0B.." from the preferences -> octets, or nil
  text = (text or ""):gsub("[%s:]", "")
  if text == "" or #text % 2 == 1 or text:find("[^%x]") then return nil end
  local out = {}
  for i = 1, #text, 2 do out[#out + 1] = tonumber(text:sub(i, i + 1), 16) end
  return out
end

local function join(...)
  local out = {}
  for _, part in ipairs({ ... }) do for _, octet in ipairs(part) do out[#out + 1] = octet end end
  return out
end

local function hex(octets)
  local parts = {}
  for i, octet in ipairs(octets) do parts[i] = string.format("%02X", octet) end
  return table.concat(parts)
end

local function obis(range) -- "1-0:99.1.0*255" (Blue Book 7.3.2)
  local o = octets_of(range)
  return string.format("%d-%d:%d.%d.%d*%d", o[1], o[2], o[3], o[4], o[5], o[6])
end

local function date_time_text(range) -- a COSEM date-time (Blue Book 4.1.6.1); 0xFF parts are "*"
  local o = octets_of(range)
  local function part(value, width, unspecified)
    return value == unspecified and string.rep("*", width) or string.format("%0" .. width .. "d", value)
  end
  local text = string.format("%s-%s-%s %s:%s:%s.%s", part(o[1] * 256 + o[2], 4, 0xFFFF), part(o[3], 2, 0xFF),
                             part(o[4], 2, 0xFF), part(o[6], 2, 0xFF), part(o[7], 2, 0xFF), part(o[8], 2, 0xFF),
                             part(o[9], 2, 0xFF))
  local deviation = o[10] * 256 + o[11]
  if deviation ~= 0x8000 then -- 0x8000: not specified
    if deviation >= 0x8000 then deviation = deviation - 0x10000 end
    text = text .. string.format(", deviation %d min", deviation)
  end
  return text .. string.format(", status 0x%02X", o[12])
end

---------------------------------------------------------------------------
-- Reading: every reader takes (tvb, pos, tree) and returns the next position;
-- a malformed APDU raises fail(), caught once per APDU.

local function fail(reason) error({ dlms = reason }, 0) end

local function need(tvb, pos, size, what)
  if pos + size > tvb:len() then fail(string.format("truncated %s at byte %d", what, pos)) end
  return tvb(pos, size)
end

local function length_at(tvb, pos) -- an A-XDR or BER length: one octet, or 0x8N and N octets
  local first = need(tvb, pos, 1, "length"):uint()
  if first < 0x80 then return first, pos + 1 end
  local size = first - 0x80
  if size < 1 or size > 4 then fail(string.format("a length of %d octets at byte %d", size, pos)) end
  return need(tvb, pos + 1, size, "length"):uint(), pos + 1 + size
end

local function u8(tvb, pos, tree, field)
  local range = need(tvb, pos, 1, field and "field" or "octet")
  if tree and field then tree:add(field, range) end
  return range:uint(), pos + 1
end

local function u32(tvb, pos, tree, field)
  local range = need(tvb, pos, 4, "Unsigned32")
  tree:add(field, range)
  return range:uint(), pos + 4
end

local MAX_ITEMS = 5000 -- Data elements shown per APDU; an array or structure counts those it does not show
local MAX_DEPTH = 32

-- One A-XDR Data (Green Book 9.5, Blue Book 4.1.5) under `tree` (read past, when nil);
-- `budget.left` counts the items still shown.
local function data(tvb, pos, tree, budget, depth, label)
  local start = pos
  local tag = need(tvb, pos, 1, "Data tag"):uint()
  local name = DATA_TYPES[tag]
  if not name then fail(string.format("unknown Data tag %d at byte %d", tag, pos)) end
  if depth > MAX_DEPTH then fail(string.format("Data nested deeper than %d at byte %d", MAX_DEPTH, pos)) end
  label = label and label .. ": " or ""
  pos = pos + 1
  local size, text = FIXED[tag], nil
  if tag == 1 or tag == 2 then -- array, structure
    local count
    count, pos = length_at(tvb, pos)
    local item = tree and tree:add(F.data, tvb(start, pos - start), name)
    local hidden = 0
    for i = 1, count do
      budget.left = budget.left - 1
      if budget.left < 0 then item, hidden = nil, hidden + 1 end
      pos = data(tvb, pos, item, budget, depth + 1, string.format("[%d]", i - 1))
    end
    if item then
      item:set_len(pos - start)
      item:set_text(string.format("%s%s (%d elements%s)", label, name, count,
                                  hidden > 0 and string.format(", %d not shown", hidden) or ""))
    end
    return pos
  elseif size then
    local range = size > 0 and need(tvb, pos, size, name) or tvb(start, 1)
    if tag == 3 then text = range:uint() ~= 0 and "true" or "false"
    elseif tag == 23 or tag == 24 then text = tostring(range:float())
    elseif tag == 25 then text = date_time_text(range)
    elseif tag == 26 or tag == 27 or tag == 13 then text = tostring(range:bytes())
    elseif size == 8 then text = tostring(SIGNED[tag] and range:int64() or range:uint64())
    elseif size > 0 then text = tostring(SIGNED[tag] and range:int() or range:uint())
    else text = "" end
    pos = pos + size
  else -- bit-string, octet-string, visible-string, utf8-string, compact-array
    if tag == 19 then fail(string.format("compact-array at byte %d is not read here", start)) end
    local length
    length, pos = length_at(tvb, pos)
    local octets = tag == 4 and math.ceil(length / 8) or length
    local range = octets > 0 and need(tvb, pos, octets, name) or nil
    if tag == 10 or tag == 12 then
      text = '"' .. (range and range:string(tag == 12 and ENC_UTF_8 or ENC_ASCII) or "") .. '"'
    elseif tag == 4 then
      text = string.format("%d bits %s", length, range and tostring(range:bytes()) or "")
    else
      text = range and tostring(range:bytes()) or ""
      if octets == 6 then text = text .. " (" .. obis(range) .. ")"
      elseif octets == 12 then text = text .. " (" .. date_time_text(range) .. ")" end
    end
    pos = pos + octets
  end
  if tree then
    tree:add(F.data, tvb(start, pos - start), name .. " " .. text):set_text(label .. name .. ": " .. text)
  end
  return pos
end

local function descriptor(tvb, pos, tree, method) -- cosem-attribute-descriptor or cosem-method-descriptor
  local range = need(tvb, pos, 9, "cosem descriptor")
  local what = method and "cosem-method-descriptor" or "cosem-attribute-descriptor"
  local info = string.format("%s %s %d", obis(range(2, 6)), method and "method" or "attr", range(8, 1):int())
  local subtree = tree:add(F.service, range, what)
  subtree:set_text(string.format("%s: class %d, %s, %s %d", what, range(0, 2):uint(), obis(range(2, 6)),
                                 method and "method" or "attribute", range(8, 1):int()))
  subtree:add(F.class_id, range(0, 2))
  subtree:add(F.instance_id, range(2, 6), obis(range(2, 6)))
  subtree:add(method and F.method_id or F.attribute_id, range(8, 1))
  return pos + 9, info
end

local function optional_data(label) -- an OPTIONAL Data: a presence octet, then the Data
  return function(tvb, pos, tree, budget)
    local present
    present, pos = u8(tvb, pos)
    return present == 0 and pos or data(tvb, pos, tree, budget, 1, label)
  end
end

local function enumerated(field, names) -- one ENUMERATED octet; its name is the summary
  return function(tvb, pos, tree)
    local value
    value, pos = u8(tvb, pos, tree, field)
    return pos, names[value] or tostring(value)
  end
end

local function datablock(with_result) -- DataBlock-G (a raw-data or data-access-result CHOICE) or DataBlock-SA
  return function(tvb, pos, tree)
    pos = select(2, u8(tvb, pos, tree, F.last_block))
    local number
    number, pos = u32(tvb, pos, tree, F.block_number)
    local choice = 0
    if with_result then choice, pos = u8(tvb, pos) end
    if choice ~= 0 then return select(2, u8(tvb, pos, tree, F.data_access_result)) end
    local length, start = length_at(tvb, pos)
    tree:add(F.raw_data, need(tvb, start, length, "raw-data"))
    return start + length, "block " .. number
  end
end

-- The parts of the GET, SET and ACTION forms (Green Book 9.5), by name: each reads
-- (tvb, pos, tree, budget) and returns the next position and, maybe, a summary.
local PARTS
PARTS = {
  ["attribute"] = function(tvb, pos, tree) return descriptor(tvb, pos, tree, false) end,
  ["method"] = function(tvb, pos, tree) return descriptor(tvb, pos, tree, true) end,
  ["access"] = function(tvb, pos, tree, budget) -- OPTIONAL selective-access-descriptor
    local present
    present, pos = u8(tvb, pos)
    if present == 0 then return pos end
    pos = select(2, u8(tvb, pos, tree, F.access_selector))
    return data(tvb, pos, tree, budget, 1, "access-parameters")
  end,
  ["value"] = function(tvb, pos, tree, budget) return data(tvb, pos, tree, budget, 1, "value") end,
  ["parameters"] = optional_data("method-invocation-parameters"),
  ["block-number"] = function(tvb, pos, tree)
    local number
    number, pos = u32(tvb, pos, tree, F.block_number)
    return pos, "block " .. number
  end,
  ["get-data-result"] = function(tvb, pos, tree, budget) -- CHOICE data [0] | data-access-result [1]
    local choice
    choice, pos = u8(tvb, pos)
    if choice == 0 then return data(tvb, pos, tree, budget, 1, "data"), "data" end
    return enumerated(F.data_access_result, DATA_ACCESS_RESULTS)(tvb, pos, tree)
  end,
  ["data-access-result"] = enumerated(F.data_access_result, DATA_ACCESS_RESULTS),
  ["action-result"] = function(tvb, pos, tree, budget) -- Action-Response-With-Optional-Data
    local info
    pos, info = enumerated(F.action_result, ACTION_RESULTS)(tvb, pos, tree)
    local present
    present, pos = u8(tvb, pos)
    if present ~= 0 then pos = PARTS["get-data-result"](tvb, pos, tree, budget) end
    return pos, info
  end,
  ["datablock-g"] = datablock(true),
  ["datablock-sa"] = datablock(false),
}

-- A SEQUENCE OF the parts `...` (one list item per element), shown as `name`.
local function list(name, ...)
  local parts = { ... }
  return function(tvb, pos, tree, budget)
    local start, count = pos, nil
    count, pos = length_at(tvb, pos)
    local items = tree:add(F.service, tvb(start, pos - start), name)
    for i = 1, count do
      local item_start = pos
      local item = items:add(F.service, tvb(pos, 0), name):set_text(string.format("[%d]", i - 1))
      for _, part in ipairs(parts) do pos = PARTS[part](tvb, pos, item, budget) end
      item:set_len(pos - item_start)
    end
    items:set_len(pos - start)
    items:set_text(string.format("%s (%d)", name, count))
    return pos
  end
end
local ATTRIBUTES, METHODS = list("attribute-descriptor-list", "attribute", "access"),
                            list("cosem-method-descriptor-list", "method")

-- Each service's forms, by CHOICE: the parts that follow invoke-id-and-priority.
local SERVICES = {
  [0xC0] = { { "attribute", "access" }, { "block-number" }, { ATTRIBUTES } },
  [0xC4] = { { "get-data-result" }, { "datablock-g" }, { list("result", "get-data-result") } },
  [0xC1] = { { "attribute", "access", "value" }, { "attribute", "access", "datablock-sa" }, { "datablock-sa" },
             { ATTRIBUTES, list("value-list", "value") }, { ATTRIBUTES, "datablock-sa" } },
  [0xC5] = { { "data-access-result" }, { "block-number" }, { "data-access-result", "block-number" },
             { list("result", "data-access-result"), "block-number" }, { list("result", "data-access-result") } },
  [0xC3] = { { "method", "parameters" }, { "block-number" }, { METHODS, list("method-invocation-parameters", "value") },
             { "method", "datablock-sa" }, { METHODS, "datablock-sa" }, { "datablock-sa" } },
  [0xC7] = { { "action-result" }, { "datablock-sa" }, { list("action-response", "action-result") },
             { "block-number" } },
}

---------------------------------------------------------------------------
-- Per-capture state: system titles by sender, dedicated keys by connection, HDLC segments by sender
-- (and, by frame, the APDUs put together and whether a frame continues one).

local titles, dedicated, segments, reassembled, continued = {}, {}, {}, {}, {}

local function sender(pinfo) return tostring(pinfo.src) .. ":" .. pinfo.src_port end
local function connection(pinfo)
  local a, b = sender(pinfo), tostring(pinfo.dst) .. ":" .. pinfo.dst_port
  return a < b and a .. "|" .. b or b .. "|" .. a
end

local METER_SENT = { [0x28] = true, [0x2E] = true, [0x48] = true, [0x4E] = true, [0xCA] = true, [0xD2] = true }
local function is_response(tag) -- the meter's: initiate responses, errors, event notifications, service responses
  return METER_SENT[tag] or tag >= 0xC4 and band(tag, 0x04) ~= 0
end

local dissect_apdu -- forward: (tvb, pinfo, tree) -> summary

-- The security header and protected text of a ciphered APDU (Green Book 9.2.7.2.4);
-- deciphers it when the keys allow and dissects the plain APDU.
local function protected(tvb, pos, stop, pinfo, tree, tag, dedicated_key, title)
  local sc_range = need(tvb, pos, 1, "security control")
  local sc = sc_range:uint()
  local sc_item = tree:add(F.security_control, sc_range)
  for _, field in ipairs({ F.security_suite, F.sc_authentication, F.sc_encryption, F.sc_broadcast,
                           F.sc_compression }) do sc_item:add(field, sc_range) end
  local counter_range = need(tvb, pos + 1, 4, "invocation counter")
  tree:add(F.invocation_counter, counter_range)
  local authenticated, encrypted = band(sc, 0x10) ~= 0, band(sc, 0x20) ~= 0
  local tag_length = authenticated and 12 or 0
  local body_length = stop - pos - 5 - tag_length
  if body_length < 0 then fail("the protected text is shorter than its header and tag") end
  local body = body_length > 0 and tvb(pos + 5, body_length) or nil
  if body and encrypted then tree:add(F.ciphertext, body) end
  if authenticated then tree:add(F.authentication_tag, tvb(stop - tag_length, tag_length)) end
  local summary = string.format("%s, IC %d", tag and APDU_TAGS[tag] or "ciphered", counter_range:uint())
  if body and not encrypted then summary = summary .. ": " .. dissect_apdu(body:tvb(), pinfo, tree) end
  local title_octets = title or titles[sender(pinfo)] or hex_octets(tag and not is_response(tag)
    and dlms.prefs.client_system_title or dlms.prefs.server_system_title)
  local key = dedicated_key and (dedicated[connection(pinfo)] or hex_octets(dlms.prefs.dedicated_key))
    or hex_octets(dlms.prefs.block_cipher_key)
  local ak = hex_octets(dlms.prefs.authentication_key) or {}
  local missing = not key and "no block cipher key" or not title_octets and "the sender's system title is not known"
    or (#key ~= 16 and #key ~= 32) and "the key is not 16 or 32 octets" or #title_octets ~= 8 and
    "the system title is not 8 octets" or (authenticated and #ak == 0) and "no authentication key"
  if missing then
    tree:add(F.deciphered, tvb(pos, stop - pos), "not deciphered: " .. missing)
    return summary
  end
  local iv = join(title_octets, octets_of(counter_range))
  local text = body and octets_of(body) or {}
  local plain, verified
  if encrypted then
    local aad = authenticated and join({ sc }, ak) or {}
    plain, verified = gcm_decrypt(key, iv, aad, text, authenticated and octets_of(tvb(stop - 12, 12)) or nil)
  else
    plain = text
    if authenticated then
      verified = select(2, gcm_decrypt(key, iv, join({ sc }, ak, text), {}, octets_of(tvb(stop - 12, 12))))
    end
  end
  local verdict = verified == false and "the authentication tag does NOT verify"
    or (encrypted and "deciphered" or "authenticated") .. (verified and ", authentication tag verified" or "")
  local item = tree:add(F.deciphered, tvb(pos, stop - pos), verdict)
  if verified == false then
    item:add_proto_expert_info(E_SECURITY, "the authentication tag does not verify with the given keys")
    return summary .. ", tag does not verify"
  end
  if not encrypted or #plain == 0 then return summary end
  return summary .. ": " .. dissect_apdu(ByteArray.new(hex(plain)):tvb("Deciphered APDU"), pinfo, item)
end

-- xDLMS InitiateRequest (0x01), InitiateResponse (0x08), ConfirmedServiceError (0x0E) (Green Book 9.5).
local function initiate(tvb, pos, pinfo, tree, tag)
  local function optional(field, size)
    local present
    present, pos = u8(tvb, pos)
    if present ~= 0 then
      local length = size
      if not size then length, pos = length_at(tvb, pos) end
      local range = need(tvb, pos, length, "optional field")
      tree:add(field, range)
      pos = pos + length
      return range
    end
  end
  if tag == 0x0E then
    local choice, service
    choice, pos = u8(tvb, pos)
    service, pos = u8(tvb, pos)
    local value = need(tvb, pos, 1, "service error"):uint()
    local text = string.format("service %d, ServiceError CHOICE %d, value %d", choice, service, value)
    tree:add(F.confirmed_service_error, tvb(1, pos), text)
    return "ConfirmedServiceError: " .. text
  end
  if tag == 0x01 then
    local key = optional(F.dedicated_key)
    if key then dedicated[connection(pinfo)] = octets_of(key) end
    optional(F.response_allowed, 1) -- BOOLEAN DEFAULT TRUE
  end
  optional(F.quality_of_service, 1)
  pos = select(2, u8(tvb, pos, tree, F.dlms_version))
  local conformance = need(tvb, pos, 7, "conformance")
  local item = tree:add(F.conformance, conformance(4, 3))
  for _, field in ipairs(CONFORMANCE_FIELDS) do item:add(field, conformance(4, 3)) end
  pos = pos + 7
  tree:add(F.max_pdu_size, need(tvb, pos, 2, "max PDU size"))
  pos = pos + 2
  if tag == 0x08 then tree:add(F.vaa_name, need(tvb, pos, 2, "vaa-name")) end
  return tag == 0x01 and "InitiateRequest" or "InitiateResponse"
end

-- AARQ, AARE, RLRQ, RLRE: BER TLVs named from ACSE_MEMBERS (Green Book 9.3).
local function acse(tvb, pos, pinfo, tree, tag)
  local length, stop
  length, pos = length_at(tvb, pos)
  stop = pos + length
  if stop > tvb:len() then fail("the ACSE APDU's length runs past its octets") end
  local summary = {}
  while pos < stop do
    local member_tag, start = tvb(pos, 1):uint(), pos
    local size
    size, pos = length_at(tvb, pos + 1)
    local value = need(tvb, pos, size, "ACSE member")
    local name = ACSE_MEMBERS[tag][member_tag] or string.format("[0x%02X]", member_tag)
    local whole = tvb(start, pos + size - start)
    local inner = size > 2 and value(2) or nil -- the value inside an explicit tag (OID, INTEGER, OCTET STRING)
    if name == "application-context-name" or name == "mechanism-name" then
      local oid = name == "mechanism-name" and value or inner
      local last = oid:range(oid:len() - 1, 1):uint()
      local text = named(name == "mechanism-name" and MECHANISMS or APPLICATION_CONTEXTS, last)
      tree:add(name == "mechanism-name" and F.mechanism_name or F.application_context_name, whole, text)
      summary[#summary + 1] = text
    elseif F[name:gsub("-", "_"):lower()] and inner then -- AP titles, authentication values
      tree:add(F[name:gsub("-", "_"):lower()], inner)
      if name:find("AP%-title") and inner:len() == 8 then titles[sender(pinfo)] = octets_of(inner) end
    elseif name == "result" then
      tree:add(F.result, inner)
      summary[#summary + 1] = ASSOCIATION_RESULTS[inner:uint()]
    elseif name == "result-source-diagnostic" then
      local diagnostic = value(4, 1):uint()
      local names = value(0, 1):uint() == 0xA1 and USER_DIAGNOSTICS or PROVIDER_DIAGNOSTICS
      tree:add(F.diagnostic, whole, named(names, diagnostic))
      if diagnostic ~= 0 then summary[#summary + 1] = names[diagnostic] end
    elseif name == "reason" then
      tree:add(F.reason, whole, named(RELEASE_REASONS[tag], value:uint()))
    elseif name == "user-information" then
      local length2, at = length_at(tvb, pos + 1)
      local item = tree:add(F.acse, whole, name):set_text(name)
      summary[#summary + 1] = dissect_apdu(tvb(at, length2):tvb(), pinfo, item)
    else
      tree:add(F.acse, whole, name .. ": " .. tostring(value:bytes()))
    end
    pos = pos + size
  end
  return table.concat(summary, ", ")
end

-- One APDU, the whole of `tvb`; returns the summary for the Info column.
function dissect_apdu(tvb, pinfo, tree)
  local tag = tvb:len() > 0 and tvb(0, 1):uint() or nil
  local name = tag and APDU_TAGS[tag] or "apdu"
  local item = tree:add(F.apdu, tvb(), tag or 0)
  local summary = name
  local caught, reason = pcall(function()
    if not tag then fail("empty APDU") end
    local budget = { left = MAX_ITEMS }
    if SERVICES[tag] then
      local choice = need(tvb, 1, 1, "CHOICE"):uint()
      local form = SERVICES[tag][choice]
      local service = name .. "-" .. (SERVICE_CHOICES[tag][choice] or "unknown")
      item:add(F.service, tvb(1, 1), service)
      summary = service
      if not form then fail(string.format("unknown %s CHOICE %d", name, choice)) end
      local invoke = need(tvb, 2, 1, "invoke-id-and-priority")
      local ip = item:add(F.invoke_id_and_priority, invoke)
      for _, field in ipairs({ F.invoke_id, F.service_class, F.priority }) do ip:add(field, invoke) end
      local pos, info = 3, nil
      for _, part in ipairs(form) do
        local said
        pos, said = (type(part) == "function" and part or PARTS[part])(tvb, pos, item, budget)
        info = info or said
      end
      if info then summary = summary .. " " .. info end
      if pos ~= tvb:len() then fail(string.format("%d octets after the %s", tvb:len() - pos, service)) end
    elseif ACSE_MEMBERS[tag] then
      local text = acse(tvb, 1, pinfo, item, tag)
      if text ~= "" then summary = name .. ": " .. text end
    elseif tag == 0x01 or tag == 0x08 or tag == 0x0E then
      summary = initiate(tvb, 1, pinfo, item, tag)
    elseif tag == 0x0F then -- Data-Notification
      local pos = select(2, u32(tvb, 1, item, F.long_invoke_id))
      local length
      length, pos = length_at(tvb, pos)
      if length == 12 then item:add(F.date_time, tvb(pos, 12), date_time_text(tvb(pos, 12)))
      elseif length > 0 then item:add(F.date_time, need(tvb, pos, length, "date-time"), "not a date-time") end
      pos = data(tvb, pos + length, item, budget, 1, "notification-body")
      if pos ~= tvb:len() then fail(string.format("%d octets after the notification-body", tvb:len() - pos)) end
    elseif tag == 0xD8 then -- EXCEPTION-Response
      local state, pos = u8(tvb, 1, item, F.state_error)
      local service
      service, pos = u8(tvb, pos, item, F.service_error)
      if service == 6 then pos = select(2, u32(tvb, pos, item, F.invocation_counter)) end
      summary = string.format("%s: %s/%s", name, STATE_ERRORS[state] or state, SERVICE_ERRORS[service] or service)
    elseif tag == 0xDB or tag == 0xDC then -- general-glo/ded-ciphering: system-title, ciphered-content
      local length, pos = length_at(tvb, 1)
      local title = need(tvb, pos, length, "system-title")
      item:add(F.system_title, title)
      local size, at = length_at(tvb, pos + length)
      need(tvb, at, size, "ciphered-content")
      summary = name .. ": " .. protected(tvb, at, at + size, pinfo, item, nil, tag == 0xDC,
                                          length == 8 and octets_of(title) or nil)
    elseif tag == 0xE0 then -- general-block-transfer
      local pos = select(2, u8(tvb, 1, item, F.block_control))
      item:add(F.block_number, need(tvb, pos, 2, "block-number"))
      item:add(F.block_number, need(tvb, pos + 2, 2, "block-number-ack")):prepend_text("ack ")
      local length, at = length_at(tvb, pos + 4)
      item:add(F.raw_data, need(tvb, at, length, "block-data"))
    elseif APDU_TAGS[tag] and (tag < 0x60 or tag >= 0xC8 and tag <= 0xD7) then -- glo- and ded-ciphered APDUs
      local length, pos = length_at(tvb, 1)
      need(tvb, pos, length, "ciphered APDU")
      summary = protected(tvb, pos, pos + length, pinfo, item, tag, band(tag, 0x10) ~= 0 or tag < 0x60 and tag >= 0x41)
    else
      item:add(F.unparsed, tvb(), APDU_TAGS[tag] and "not read by this dissector" or "unknown APDU tag")
    end
  end)
  if not caught then
    local text = type(reason) == "table" and reason.dlms or tostring(reason)
    item:add_proto_expert_info(E_MALFORMED, text)
    summary = summary .. " [malformed: " .. text .. "]"
  end
  if summary ~= name then
    item:append_text(summary:sub(1, #name + 1) == name .. ":" and summary:sub(#name + 1) or ": " .. summary)
  end
  return summary
end

---------------------------------------------------------------------------
-- Frames: the wrapper (IEC 62056-47) and HDLC (IEC 62056-46, Green Book 8.4.2)

local FCS_TABLE = {}
for octet = 0, 255 do
  local crc = octet
  for _ = 1, 8 do crc = band(crc, 1) ~= 0 and bxor(rshift(crc, 1), 0x8408) or rshift(crc, 1) end
  FCS_TABLE[octet] = crc
end

local function fcs16(range) -- CRC-16/X.25 (RFC 1662 C.2), as HCS and FCS use it
  local crc, raw = 0xFFFF, range:raw()
  for i = 1, #raw do crc = bxor(rshift(crc, 8), FCS_TABLE[band(bxor(crc, raw:byte(i)), 0xFF)]) end
  return bxor(crc, 0xFFFF)
end

local function wrapper_length(tvb, offset) -- the whole frame's length, or nil when the header is not there yet
  if tvb:len() - offset < 8 then return nil end
  return 8 + tvb(offset + 6, 2):uint()
end

local function hdlc_length(tvb, offset)
  if tvb:len() - offset < 3 then return nil end
  return 2 + band(tvb(offset + 1, 2):uint(), 0x07FF)
end

-- Version 1 and a known APDU tag (the APDU may continue in the next segment).
local function looks_like_wrapper(tvb, offset)
  local length = wrapper_length(tvb, offset)
  return length and length > 8 and tvb:len() > offset + 8 and tvb(offset, 2):uint() == 1
    and APDU_TAGS[tvb(offset + 8, 1):uint()] ~= nil
end

local function looks_like_hdlc(tvb, offset)
  local length = hdlc_length(tvb, offset)
  return length and tvb(offset, 1):uint() == 0x7E and band(tvb(offset + 1, 1):uint(), 0xF0) == 0xA0
    and length >= 9 and offset + length <= tvb:len() and tvb(offset + length - 1, 1):uint() == 0x7E
    and fcs16(tvb(offset + 1, length - 4)) == tvb(offset + length - 3, 2):le_uint()
end

local function wrapper(tvb, pinfo, tree)
  local header = tree:add(F.wrapper, tvb(0, 8))
  header:add(F.version, tvb(0, 2))
  header:add(F.source_wport, tvb(2, 2))
  header:add(F.destination_wport, tvb(4, 2))
  header:add(F.length, tvb(6, 2))
  header:set_text(string.format("Wrapper header: wPort %d -> wPort %d, %d octets", tvb(2, 2):uint(), tvb(4, 2):uint(),
                                tvb(6, 2):uint()))
  if tvb:len() > 8 then return dissect_apdu(tvb(8):tvb(), pinfo, tree) end
  return "empty wrapper frame"
end

local function hdlc_address(tvb, pos, field, tree, what)
  local value, size = 0, 0
  repeat
    local octet = need(tvb, pos + size, 1, what):uint()
    value = bor(lshift(value, 7), rshift(octet, 1))
    size = size + 1
  until band(octet, 1) == 1 or size == 4
  local text
  if size == 1 then text = string.format("%d", value)
  else
    local width = 7 * size / 2
    text = string.format("upper %d, lower %d", rshift(value, width), band(value, lshift(1, width) - 1))
  end
  tree:add(field, tvb(pos, size), text .. string.format(" (%d octets)", size))
  return pos + size
end

local function control_text(control)
  local pf = band(control, 0x10) ~= 0 and " P/F" or ""
  if band(control, 1) == 0 then
    return string.format("I N(R)=%d N(S)=%d%s", rshift(control, 5), band(rshift(control, 1), 7), pf), "I"
  end
  local bare = band(control, 0xEF)
  if HDLC_S[band(bare, 0x0F)] then
    return string.format("%s N(R)=%d%s", HDLC_S[band(bare, 0x0F)], rshift(control, 5), pf), "S"
  end
  return (HDLC_U[bare] or string.format("U 0x%02X", bare)) .. pf, HDLC_U[bare] or "U"
end

local function check_sequence(tree, field, range, covered) -- HCS or FCS, sent least significant octet first
  local value = range:le_uint()
  tree:add(field, range, value):append_text(fcs16(covered) == value and " (good)" or " (bad)")
end

local function hdlc(tvb, pinfo, tree, index)
  local length = tvb:len()
  local frame = tree:add(F.hdlc, tvb())
  local format = tvb(1, 2)
  frame:add(F.hdlc_format, format)
  frame:add(F.hdlc_segmented, format)
  frame:add(F.hdlc_length, format)
  local pos = hdlc_address(tvb, 3, F.hdlc_destination, frame, "destination address")
  pos = hdlc_address(tvb, pos, F.hdlc_source, frame, "source address")
  local control = need(tvb, pos, 1, "control"):uint()
  local text, kind = control_text(control)
  frame:add(F.hdlc_control, tvb(pos, 1))
  frame:add(F.hdlc_frame_type, tvb(pos, 1), text)
  frame:add(F.hdlc_poll_final, tvb(pos, 1))
  pos = pos + 1
  frame:set_text("HDLC frame: " .. text)
  local summary = text
  if length > pos + 3 then -- HCS, information
    check_sequence(frame, F.hdlc_hcs, tvb(pos, 2), tvb(1, pos - 1))
    pos = pos + 2
    local information = tvb(pos, length - 3 - pos)
    if kind == "SNRM" or kind == "UA" then -- parameter negotiation: 81 80 length {id length value}
      local at = pos + 3
      while at + 2 <= pos + information:len() do
        local id, size = tvb(at, 1):uint(), tvb(at + 1, 1):uint()
        local range = need(tvb, at, 2 + size, "HDLC parameter")
        frame:add(F.hdlc_parameter, range, string.format("%s: %d", HDLC_PARAMETERS[id] or string.format("0x%02X", id),
                                                         size > 0 and range(2, size):uint() or 0))
        at = at + 2 + size
      end
    elseif kind == "I" or kind == "UI" then
      -- A segmented APDU (Green Book 8.4.4.3) is put together on the first pass, then kept by frame;
      -- only its first segment starts with the LLC header (Green Book 8.4.4.2).
      local segmented, key, id = band(format:uint(), 0x0800) ~= 0, sender(pinfo), pinfo.number .. ":" .. index
      if not pinfo.visited then continued[id] = segments[key] ~= nil end
      local apdu, llc = information, information:len() >= 3 and information(0, 2):uint()
      if not continued[id] and (llc == 0xE6E6 or llc == 0xE6E7) then
        frame:add(F.hdlc_llc, information(0, 3))
        apdu = information:len() > 3 and information(3) or nil
      end
      if not pinfo.visited then
        if segmented then
          segments[key] = (segments[key] or "") .. (apdu and apdu:raw() or "")
        elseif continued[id] then
          reassembled[id] = segments[key] .. (apdu and apdu:raw() or "")
          segments[key] = nil
        end
      end
      if segmented then
        summary = summary .. ", segment"
      elseif reassembled[id] then
        local whole = ByteArray.new(reassembled[id], true):tvb("Reassembled APDU")
        summary = summary .. ": " .. dissect_apdu(whole, pinfo, frame)
      elseif apdu then
        summary = summary .. ": " .. dissect_apdu(apdu:tvb(), pinfo, frame)
      end
    end
  end
  check_sequence(frame, F.hdlc_fcs, tvb(length - 3, 2), tvb(1, length - 4))
  return summary
end

---------------------------------------------------------------------------
-- Registration

-- Every frame of one TCP segment or UDP datagram; asks TCP for more octets when a frame continues.
local function dissect_frames(tvb, pinfo, tree)
  local offset, summaries, index = 0, {}, 0
  local root = tree:add(dlms, tvb())
  while offset < tvb:len() do
    local is_hdlc = tvb(offset, 1):uint() == 0x7E
    local length = (is_hdlc and hdlc_length or wrapper_length)(tvb, offset)
    if not length or offset + length > tvb:len() then
      if pinfo.can_desegment > 0 then -- TCP gives the frame again with the octets it lacks
        pinfo.desegment_offset = offset
        pinfo.desegment_len = length and offset + length - tvb:len() or DESEGMENT_ONE_MORE_SEGMENT
        offset = tvb:len()
        break
      end
      root:add(F.unparsed, tvb(offset), "truncated frame"):add_proto_expert_info(E_MALFORMED, "truncated frame")
      break
    end
    index = index + 1
    local frame = tvb(offset, length):tvb()
    local caught, summary = pcall(is_hdlc and hdlc or wrapper, frame, pinfo, root, index)
    if not caught then
      summary = type(summary) == "table" and summary.dlms or tostring(summary)
      root:add(F.unparsed, tvb(offset, length), summary):add_proto_expert_info(E_MALFORMED, summary)
    end
    if summary:find(", segment$") and (summaries[#summaries] or ""):find("segments?$") then
      local count = tonumber(summaries[#summaries]:match("(%d+) segments$") or 1) + 1
      summaries[#summaries] = string.format("%d segments", count)
    else
      summaries[#summaries + 1] = summary
    end
    offset = offset + length
  end
  if #summaries > 0 then
    pinfo.cols.protocol = "DLMS"
    pinfo.cols.info = table.concat(summaries, "; ")
  end
  return offset
end

dlms.dissector = dissect_frames

local function heuristic(tvb, pinfo, tree)
  if not dlms.prefs.heuristics or tvb:len() < 8 then return false end
  if not (looks_like_wrapper(tvb, 0) or looks_like_hdlc(tvb, 0)) then return false end
  pinfo.conversation = dlms
  dissect_frames(tvb, pinfo, tree)
  return true
end
dlms:register_heuristic("tcp", heuristic)
dlms:register_heuristic("udp", heuristic)

local registered = { tcp = "", udp = "" }
local function register_ports() -- on the ports of the preferences, and again when they change
  for table_name, pref in pairs({ tcp = dlms.prefs.tcp_ports, udp = dlms.prefs.udp_ports }) do
    local ports = DissectorTable.get(table_name .. ".port")
    if registered[table_name] ~= "" then ports:remove(registered[table_name], dlms) end
    if pref ~= "" then ports:add(pref, dlms) end
    registered[table_name] = pref
  end
end
dlms.prefs_changed = register_ports
register_ports()

function dlms.init() -- a new capture file: forget what the last one taught
  titles, dedicated, segments, reassembled, continued = {}, {}, {}, {}, {}
end
