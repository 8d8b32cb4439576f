//! Numbers and addresses written without `core::fmt`: the request path writes a few on every
//! request (the access log's peer and duration, `REMOTE_ADDR`), and the formatting machinery
//! (padding, width, a call per octet) cost more than the rest of those lines.

use std::net::{IpAddr, Ipv4Addr};

/// Write `v` in decimal at the start of `out` (which has room for its digits); how many.
pub(crate) fn put_decimal(out: &mut [u8], v: u32) -> usize {
    let mut tmp = [0u8; 10];
    let (mut i, mut v) = (tmp.len(), v);
    loop {
        i -= 1;
        tmp[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    let digits = &tmp[i..];
    out[..digits.len()].copy_from_slice(digits);
    digits.len()
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
    }
}
