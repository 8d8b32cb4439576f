//! What may reach a log line.
//!
//! - [`Escaped`] / [`escape`]: text that came from a request, with every control character
//!   (CR, LF, …), backslash and double quote escaped, so a value can never start a forged log
//!   line or close a quoted field.
//! - [`redact`]: the one rule set that decides which headers, parameters, JSON keys, XML names
//!   and form fields hold credentials, and replaces their values by `***`. The wire log, the
//!   access log and the `<log>` mediator all use it.

mod escape;
pub mod redact;

pub use escape::{escape, Escaped};
pub use redact::{is_secret_name, redact_header, redact_text, redact_url};
