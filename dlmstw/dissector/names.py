"""Names the dissector prints: COSEM interface classes with their attributes and
methods (Blue Book, IEC 62056-6-2, clause 4), and the Green Book enumerations
(IEC 62056-5-3, 9.5) that ``dlmstw.enums`` does not carry.

A table rather than the object model's plugins: the dissector names classes a
capture from any meter may reference, and stays free of Twisted.
"""

from __future__ import annotations

from typing import Final

from dlmstw.codec.obis import format_obis_reduced
from dlmstw.dissector.fields import Names
from dlmstw.enums import ApplicationContextName, AuthenticationMechanism, ServiceErrorKind

# (class name, attribute names from 1, method names from 1), Blue Book 4.x.
_CLASSES: Final[dict[int, tuple[str, tuple[str, ...], tuple[str, ...]]]] = {
    1: ("Data", ("logical_name", "value"), ()),
    3: ("Register", ("logical_name", "value", "scaler_unit"), ("reset",)),
    4: ("Extended register", ("logical_name", "value", "scaler_unit", "status", "capture_time"), ("reset",)),
    5: ("Demand register", ("logical_name", "current_average_value", "last_average_value", "scaler_unit",
                            "status", "capture_time", "start_time_current", "period", "number_of_periods"),
        ("reset", "next_period")),
    6: ("Register activation", ("logical_name", "register_assignment", "mask_list", "active_mask"),
        ("add_register", "add_mask", "delete_mask")),
    7: ("Profile generic", ("logical_name", "buffer", "capture_objects", "capture_period", "sort_method",
                            "sort_object", "entries_in_use", "profile_entries"), ("reset", "capture")),
    8: ("Clock", ("logical_name", "time", "time_zone", "status", "daylight_savings_begin",
                  "daylight_savings_end", "daylight_savings_deviation", "daylight_savings_enabled", "clock_base"),
        ("adjust_to_quarter", "adjust_to_measuring_period", "adjust_to_minute", "adjust_to_preset_time",
         "preset_adjusting_time", "shift_time")),
    9: ("Script table", ("logical_name", "scripts"), ("execute",)),
    10: ("Schedule", ("logical_name", "entries"), ("enable_disable", "insert", "delete")),
    11: ("Special days table", ("logical_name", "entries"), ("insert", "delete")),
    12: ("Association SN", ("logical_name", "object_list", "access_rights_list", "security_setup_reference"), ()),
    15: ("Association LN", ("logical_name", "object_list", "associated_partners_id", "application_context_name",
                            "xdlms_context_info", "authentication_mechanism_name", "secret", "association_status",
                            "security_setup_reference", "user_list", "current_user"),
         ("reply_to_hls_authentication", "change_hls_secret", "add_object", "remove_object", "add_user",
          "remove_user")),
    17: ("SAP assignment", ("logical_name", "sap_assignment_list"), ("connect_logical_device",)),
    18: ("Image transfer", ("logical_name", "image_block_size", "image_transferred_blocks_status",
                            "image_first_not_transferred_block_number", "image_transfer_enabled",
                            "image_transfer_status", "image_to_activate_info"),
         ("image_transfer_initiate", "image_block_transfer", "image_verify", "image_activate")),
    19: ("IEC local port setup", ("logical_name", "default_mode", "default_baud", "prop_baud", "response_time",
                                  "device_addr", "pass_p1", "pass_p2", "pass_w5"), ()),
    20: ("Activity calendar", ("logical_name", "calendar_name_active", "season_profile_active",
                               "week_profile_table_active", "day_profile_table_active", "calendar_name_passive",
                               "season_profile_passive", "week_profile_table_passive", "day_profile_table_passive",
                               "activate_passive_calendar_time"), ("activate_passive_calendar",)),
    21: ("Register monitor", ("logical_name", "thresholds", "monitored_value", "actions"), ()),
    22: ("Single action schedule", ("logical_name", "executed_script", "type", "execution_time"), ()),
    23: ("IEC HDLC setup", ("logical_name", "comm_speed", "window_size_transmit", "window_size_receive",
                            "max_info_field_length_transmit", "max_info_field_length_receive",
                            "inter_octet_time_out", "inactivity_time_out", "device_address"), ()),
    40: ("Push setup", ("logical_name", "push_object_list", "send_destination_and_method", "communication_window",
                        "randomisation_start_interval", "number_of_retries", "repetition_delay"), ("push",)),
    41: ("TCP-UDP setup", ("logical_name", "tcp_udp_port", "ip_reference", "mss", "nb_of_sim_conn",
                           "inactivity_time_out"), ()),
    42: ("IPv4 setup", ("logical_name", "dl_reference", "ip_address", "multicast_ip_address", "ip_options",
                        "subnet_mask", "gateway_ip_address", "use_dhcp_flag", "primary_dns_address",
                        "secondary_dns_address"), ("add_mc_ip_address", "delete_mc_ip_address",
                                                   "get_nbof_mc_ip_addresses")),
    45: ("GPRS modem setup", ("logical_name", "apn", "pin_code", "quality_of_service"), ()),
    47: ("GSM diagnostic", ("logical_name", "operator", "status", "cs_attachment", "ps_status", "cell_info",
                            "adjacent_cells", "capture_time"), ()),
    61: ("Register table", ("logical_name", "table_cell_values", "table_cell_definition", "scaler_unit"),
         ("reset", "capture")),
    62: ("Compact data", ("logical_name", "compact_buffer", "capture_objects", "template_id",
                          "template_description", "capture_method"), ("reset", "capture")),
    63: ("Status mapping", ("logical_name", "status_word", "mapping_table"), ()),
    64: ("Security setup", ("logical_name", "security_policy", "security_suite", "client_system_title",
                            "server_system_title", "certificates"),
         ("security_activate", "key_transfer", "key_agreement", "generate_key_pair",
          "generate_certificate_request", "import_certificate", "export_certificate", "remove_certificate")),
    70: ("Disconnect control", ("logical_name", "output_state", "control_state", "control_mode"),
         ("remote_disconnect", "remote_reconnect")),
    71: ("Limiter", ("logical_name", "monitored_value", "threshold_active", "threshold_normal",
                     "threshold_emergency", "min_over_threshold_duration", "min_under_threshold_duration",
                     "emergency_profile", "emergency_profile_group_id_list", "emergency_profile_active",
                     "actions"), ()),
}


def class_name(class_id: int) -> str:
    """ "7 Profile generic", or "class 9999 (not known here)"."""
    entry = _CLASSES.get(class_id)
    return f"{class_id} {entry[0]}" if entry else f"{class_id} (class not known here)"


def attribute_name(class_id: int, attribute_id: int) -> str:
    """ "2 buffer" when the class is known, else the number."""
    entry = _CLASSES.get(class_id)
    if entry and 0 < attribute_id <= len(entry[1]):
        return f"{attribute_id} {entry[1][attribute_id - 1]}"
    if attribute_id == 0:
        return "0 (all attributes)"
    return str(attribute_id)


def method_name(class_id: int, method_id: int) -> str:
    """ "1 reply_to_hls_authentication" when the class is known, else the number."""
    entry = _CLASSES.get(class_id)
    if entry and 0 < method_id <= len(entry[2]):
        return f"{method_id} {entry[2][method_id - 1]}"
    return str(method_id)


def logical_name(instance_id: bytes, names: Names | None) -> str:
    """ "1-0:99.1.0*255 (Block load profile)": the OBIS code (Blue Book 7) and the
    object's name in the model when ``names`` knows it."""
    text = format_obis_reduced(instance_id)
    name = names(instance_id) if names is not None else None
    return f"{text} ({name})" if name else text


APPLICATION_CONTEXTS: Final[dict[int, str]] = {
    ApplicationContextName.LOGICAL_NAME: "Logical name referencing, no ciphering",
    ApplicationContextName.SHORT_NAME: "Short name referencing, no ciphering",
    ApplicationContextName.LOGICAL_NAME_WITH_CIPHERING: "Logical name referencing with ciphering",
    ApplicationContextName.SHORT_NAME_WITH_CIPHERING: "Short name referencing with ciphering",
}
"""application-context-name, last arc of 2.16.756.5.8.1.x (Green Book 9.4.2.2.2)."""

MECHANISMS: Final[dict[int, str]] = {
    AuthenticationMechanism.LOWEST: "lowest level security (no authentication)",
    AuthenticationMechanism.LLS: "LLS (low level security, password)",
    AuthenticationMechanism.HLS: "HLS (high level security, manufacturer specific)",
    AuthenticationMechanism.HLS_MD5: "HLS MD5",
    AuthenticationMechanism.HLS_SHA1: "HLS SHA-1",
    AuthenticationMechanism.HLS_GMAC: "HLS GMAC",
    AuthenticationMechanism.HLS_SHA256: "HLS SHA-256",
    AuthenticationMechanism.HLS_ECDSA: "HLS ECDSA",
}
"""mechanism-name, last arc of 2.16.756.5.8.2.x (Green Book 9.4.2.2.3)."""

SERVICE_ERROR_VALUES: Final[dict[int, tuple[str, ...]]] = {
    ServiceErrorKind.APPLICATION_REFERENCE: ("other", "time-elapsed", "application-unreachable",
                                             "application-reference-invalid", "application-context-unsupported",
                                             "provider-communication-error", "deciphering-error"),
    ServiceErrorKind.HARDWARE_RESOURCE: ("other", "memory-unavailable", "processor-resource-unavailable",
                                         "mass-storage-unavailable", "other-resource-unavailable"),
    ServiceErrorKind.VDE_STATE_ERROR: ("other", "no-dlms-context", "loading-data-set", "status-nochange",
                                       "status-inoperable"),
    ServiceErrorKind.SERVICE: ("other", "pdu-size", "service-unsupported"),
    ServiceErrorKind.DEFINITION: ("other", "object-undefined", "object-class-inconsistent",
                                  "object-attribute-inconsistent"),
    ServiceErrorKind.ACCESS: ("other", "scope-of-access-violated", "object-access-violated", "hardware-fault",
                              "object-unavailable"),
    ServiceErrorKind.INITIATE: ("other", "dlms-version-too-low", "incompatible-conformance", "pdu-size-too-short",
                                "refused-by-the-vde-handler"),
    ServiceErrorKind.LOAD_DATA_SET: ("other", "primitive-out-of-sequence", "not-loadable", "dataset-size-too-large",
                                     "not-awaited-segment", "interpretation-failure", "storage-failure",
                                     "data-set-not-ready"),
    ServiceErrorKind.TASK: ("other", "no-remote-control", "ti-stopped", "ti-running", "ti-unusable"),
}
"""The ENUMERATED values of each ServiceError alternative (Green Book 9.5)."""
