//! RESP2, the Redis protocol: commands out as arrays of bulk strings, replies in. Decoding
//! is bounded and never trusts a length it has not got the bytes for: a reply from the network
//! decodes to a value, to "need more bytes", or to an error.

/// One reply from the server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    /// `+OK`
    Status(String),
    /// `-ERR ...`: the server refused the command.
    Error(String),
    /// `:42`
    Integer(i64),
    /// `$3 abc`
    Bulk(Vec<u8>),
    /// `$-1` or `*-1`
    Nil,
    /// `*2 ...`
    Array(Vec<Reply>),
}

/// The reply cannot be RESP2.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed Redis reply: {0}")]
pub struct Malformed(pub &'static str);

/// The largest bulk string accepted (Redis's own limit, `proto-max-bulk-len`).
const MAX_BULK: usize = 512 << 20;
/// The most elements one array may claim before its bytes arrive: each takes 3 bytes at
/// least, so a claim larger than what could be buffered is refused early.
const MAX_ARRAY: usize = 64 << 20;
/// Arrays nest no deeper than this (the server's replies to our commands nest 2 deep).
const MAX_DEPTH: usize = 8;

/// The command `args` on the wire.
pub fn encode(args: &[&[u8]]) -> Vec<u8> {
    let size: usize = args.iter().map(|a| a.len() + 16).sum();
    let mut out = Vec::with_capacity(size + 16);
    out.extend_from_slice(format!("*{}\r\n", args.len()).as_bytes());
    for arg in args {
        out.extend_from_slice(format!("${}\r\n", arg.len()).as_bytes());
        out.extend_from_slice(arg);
        out.extend_from_slice(b"\r\n");
    }
    out
}

/// The first reply in `buf` and how many bytes it took; `None` when `buf` holds only part
/// of one.
pub fn decode(buf: &[u8]) -> Result<Option<(Reply, usize)>, Malformed> {
    let mut at = 0;
    Ok(reply(buf, &mut at, 0)?.map(|reply| (reply, at)))
}

fn reply(buf: &[u8], at: &mut usize, depth: usize) -> Result<Option<Reply>, Malformed> {
    let Some(line) = line(buf, at)? else {
        return Ok(None);
    };
    let (&kind, rest) = line.split_first().ok_or(Malformed("empty line"))?;
    let text = || String::from_utf8_lossy(rest).into_owned();
    Ok(Some(match kind {
        b'+' => Reply::Status(text()),
        b'-' => Reply::Error(text()),
        b':' => Reply::Integer(number(rest)?),
        b'$' => {
            let len = number(rest)?;
            if len == -1 {
                return Ok(Some(Reply::Nil));
            }
            let len = usize::try_from(len).map_err(|_| Malformed("negative length"))?;
            if len > MAX_BULK {
                return Err(Malformed("bulk string too long"));
            }
            let end = at.checked_add(len).ok_or(Malformed("length overflows"))?;
            let Some(data) = buf.get(*at..end) else {
                return Ok(None);
            };
            match buf.get(end..end + 2) {
                None => return Ok(None),
                Some(b"\r\n") => {}
                Some(_) => return Err(Malformed("bulk string not ended by CRLF")),
            }
            *at = end + 2;
            Reply::Bulk(data.to_vec())
        }
        b'*' => {
            let len = number(rest)?;
            if len == -1 {
                return Ok(Some(Reply::Nil));
            }
            let len = usize::try_from(len).map_err(|_| Malformed("negative length"))?;
            if len > MAX_ARRAY {
                return Err(Malformed("array too long"));
            }
            if depth >= MAX_DEPTH {
                return Err(Malformed("arrays nested too deep"));
            }
            // Grown as elements arrive, not by the claimed length.
            let mut items = Vec::new();
            for _ in 0..len {
                match reply(buf, at, depth + 1)? {
                    Some(item) => items.push(item),
                    None => return Ok(None),
                }
            }
            Reply::Array(items)
        }
        _ => return Err(Malformed("unknown reply type")),
    }))
}

/// The next line without its CRLF.
fn line<'a>(buf: &'a [u8], at: &mut usize) -> Result<Option<&'a [u8]>, Malformed> {
    let rest = buf.get(*at..).unwrap_or_default();
    let Some(end) = rest.iter().position(|&b| b == b'\n') else {
        return Ok(None);
    };
    let line = rest[..end]
        .strip_suffix(b"\r")
        .ok_or(Malformed("line not ended by CRLF"))?;
    *at += end + 1;
    Ok(Some(line))
}

fn number(digits: &[u8]) -> Result<i64, Malformed> {
    std::str::from_utf8(digits)
        .ok()
        .and_then(|s| s.parse().ok())
        .ok_or(Malformed("not a number"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_commands_as_bulk_arrays() {
        assert_eq!(
            encode(&[b"GET", b"k\r\n"]),
            b"*2\r\n$3\r\nGET\r\n$3\r\nk\r\n\r\n".to_vec()
        );
    }

    #[test]
    fn decodes_every_reply_type() {
        let wire = b"*6\r\n+OK\r\n-ERR no\r\n:-7\r\n$2\r\na\n\r\n$-1\r\n*1\r\n*0\r\n";
        let (reply, used) = decode(wire).unwrap().unwrap();
        assert_eq!(used, wire.len());
        assert_eq!(
            reply,
            Reply::Array(vec![
                Reply::Status("OK".into()),
                Reply::Error("ERR no".into()),
                Reply::Integer(-7),
                Reply::Bulk(b"a\n".to_vec()),
                Reply::Nil,
                Reply::Array(vec![Reply::Array(vec![])]),
            ])
        );
    }

    #[test]
    fn partial_replies_wait_and_bad_ones_fail() {
        let wire = b"*2\r\n$5\r\nhello\r\n:1\r\n";
        for cut in 0..wire.len() {
            assert_eq!(decode(&wire[..cut]), Ok(None), "cut at {cut}");
        }
        for bad in [
            &b"?\r\n"[..],
            b"$x\r\n",
            b"$-2\r\n",
            b"$1\r\nab\r\n",
            b"+no cr\n",
            b"*99999999999\r\n",
            b"$999999999999\r\n",
        ] {
            assert!(decode(bad).is_err(), "{}", bad.escape_ascii());
        }
        let deep = "*1\r\n".repeat(MAX_DEPTH + 1);
        assert!(decode(deep.as_bytes()).is_err());
    }
}
