//! json_xml
