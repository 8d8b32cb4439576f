//! Numbers and addresses written without `core::fmt`: the request path writes a few on every
//! request (the access log's peer and duration, `REMOTE_ADDR`), and the formatting machinery
//! (padding, width, a call per octet) cost more than the rest of those lines.

use std::net::{IpAddr, Ipv4Addr};

/// The decimal digits of `v`, at the end of `buf`.
fn digits(v: u64, buf: &mut [u8; 20]) -> &[u8] {
    let (mut i, mut v) = (buf.len(), v);
    loop {
        i -= 1;
        buf[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    &buf[i..]
}

/// Write `v` in decimal at the start of `out` (which has room for its digits); how many.
pub(crate) fn put_decimal(out: &mut [u8], v: u32) -> usize {
    let mut buf = [0u8; 20];
    let d = digits(u64::from(v), &mut buf);
    out[..d.len()].copy_from_slice(d);
    d.len()
}

/// Append `n` in decimal, left-padded with zeros to `width` digits (the access log's numbers
/// and microseconds).
pub fn push_padded(out: &mut String, n: u64, width: usize) {
    let mut buf = [0u8; 20];
    let d = digits(n, &mut buf);
    for _ in d.len()..width {
        out.push('0');
    }
    // only ASCII digits were written
    out.push_str(std::str::from_utf8(d).unwrap_or_default());
}

/// `a.b.c.d` at the start of `out` (at least 15 bytes); how many bytes.
pub(crate) fn put_ipv4(out: &mut [u8], ip: Ipv4Addr) -> usize {
    let mut n = 0;
    for (i, o) in ip.octets().into_iter().enumerate() {
        if i > 0 {
            out[n] = b'.';
            n += 1;
        }
        n += put_decimal(&mut out[n..], u32::from(o));
    }
    n
}

/// An IP address as text, as `Display` writes it.
pub(crate) fn ip_string(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => {
            let mut buf = [0u8; 15];
            let n = put_ipv4(&mut buf, v4);
            // only ASCII digits and dots were written
            String::from_utf8_lossy(&buf[..n]).into_owned()
        }
        IpAddr::V6(_) => ip.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_read_as_display_writes_them() {
        for a in [
            "0.0.0.0",
            "127.0.0.1",
            "255.255.255.255",
            "10.200.3.40",
            "::1",
            "fe80::1",
        ] {
            let ip: IpAddr = a.parse().unwrap();
            assert_eq!(ip_string(ip), ip.to_string());
        }
        let mut buf = [0u8; 10];
        for v in [0u32, 7, 10, 65535, u32::MAX] {
            let n = put_decimal(&mut buf, v);
            assert_eq!(std::str::from_utf8(&buf[..n]).unwrap(), v.to_string());
        }
        for (n, width, want) in [
            (0u64, 6, "000000"),
            (42, 6, "000042"),
            (123_456, 6, "123456"),
        ] {
            let mut s = String::new();
            push_padded(&mut s, n, width);
            assert_eq!(s, want);
        }
    }
}
