//! AMF0, the value encoding of RTMP commands and metadata: decoding with limits on nesting,
//! element counts and string sizes (hostile input), and encoding.

use std::fmt;

/// Deepest object nesting accepted.
pub const MAX_DEPTH: usize = 16;
/// Most properties or elements in one object or array.
pub const MAX_ELEMENTS: usize = 1024;

/// An AMF0 value.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// Number (0x00).
    Number(f64),
    /// Boolean (0x01).
    Boolean(bool),
    /// String (0x02) or long string (0x0C).
    String(String),
    /// Object (0x03) or ECMA array (0x08), properties in order.
    Object(Vec<(String, Value)>),
    /// Null (0x05).
    Null,
    /// Undefined (0x06).
    Undefined,
    /// Strict array (0x0A).
    Array(Vec<Value>),
    /// Date (0x0B): milliseconds, time zone ignored.
    Date(f64),
}

impl Value {
    /// The string, if this is one.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Self::String(s) => Some(s),
            _ => None,
        }
    }

    /// The number, if this is one.
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Self::Number(n) => Some(*n),
            _ => None,
        }
    }

    /// A property of an object.
    pub fn get(&self, key: &str) -> Option<&Value> {
        match self {
            Self::Object(props) => props.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }
}

/// Why AMF0 bytes were refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AmfError {
    /// Ended in the middle of a value.
    #[error("AMF0 truncated")]
    Truncated,
    /// A type marker this decoder does not accept.
    #[error("AMF0 type marker {0:#04x} not supported")]
    Unsupported(u8),
    /// Nesting or size beyond the limits.
    #[error("AMF0 too deep or too large")]
    TooLarge,
    /// A string that is not UTF-8.
    #[error("AMF0 string is not UTF-8")]
    Utf8,
}

/// Decodes every value in `buf`.
pub fn decode_all(mut buf: &[u8]) -> Result<Vec<Value>, AmfError> {
    let mut out = Vec::new();
    while !buf.is_empty() {
        if out.len() >= MAX_ELEMENTS {
            return Err(AmfError::TooLarge);
        }
        out.push(decode(&mut buf, 0)?);
    }
    Ok(out)
}

fn take<'a>(buf: &mut &'a [u8], n: usize) -> Result<&'a [u8], AmfError> {
    if buf.len() < n {
        return Err(AmfError::Truncated);
    }
    let (head, tail) = buf.split_at(n);
    *buf = tail;
    Ok(head)
}

fn u16_be(buf: &mut &[u8]) -> Result<usize, AmfError> {
    let b = take(buf, 2)?;
    Ok(usize::from(u16::from_be_bytes([b[0], b[1]])))
}

fn u32_be(buf: &mut &[u8]) -> Result<usize, AmfError> {
    let b = take(buf, 4)?;
    Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]) as usize)
}

fn string(buf: &mut &[u8], len: usize) -> Result<String, AmfError> {
    String::from_utf8(take(buf, len)?.to_vec()).map_err(|_| AmfError::Utf8)
}

fn f64_be(buf: &mut &[u8]) -> Result<f64, AmfError> {
    let b = take(buf, 8)?;
    Ok(f64::from_be_bytes(b.try_into().expect("8 bytes")))
}

fn properties(buf: &mut &[u8], depth: usize) -> Result<Vec<(String, Value)>, AmfError> {
    let mut props = Vec::new();
    loop {
        let len = u16_be(buf)?;
        if len == 0 && buf.first() == Some(&0x09) {
            *buf = &buf[1..];
            return Ok(props);
        }
        if props.len() >= MAX_ELEMENTS {
            return Err(AmfError::TooLarge);
        }
        let key = string(buf, len)?;
        props.push((key, decode(buf, depth + 1)?));
    }
}

fn decode(buf: &mut &[u8], depth: usize) -> Result<Value, AmfError> {
    if depth > MAX_DEPTH {
        return Err(AmfError::TooLarge);
    }
    let marker = take(buf, 1)?[0];
    Ok(match marker {
        0x00 => Value::Number(f64_be(buf)?),
        0x01 => Value::Boolean(take(buf, 1)?[0] != 0),
        0x02 => {
            let len = u16_be(buf)?;
            Value::String(string(buf, len)?)
        }
        0x03 => Value::Object(properties(buf, depth)?),
        0x05 => Value::Null,
        0x06 => Value::Undefined,
        0x08 => {
            let _count_hint = u32_be(buf)?;
            Value::Object(properties(buf, depth)?)
        }
        0x0A => {
            let count = u32_be(buf)?;
            if count > MAX_ELEMENTS {
                return Err(AmfError::TooLarge);
            }
            let mut items = Vec::with_capacity(count);
            for _ in 0..count {
                items.push(decode(buf, depth + 1)?);
            }
            Value::Array(items)
        }
        0x0B => {
            let ms = f64_be(buf)?;
            take(buf, 2)?;
            Value::Date(ms)
        }
        0x0C => {
            let len = u32_be(buf)?;
            if len > buf.len() {
                return Err(AmfError::Truncated);
            }
            Value::String(string(buf, len)?)
        }
        other => return Err(AmfError::Unsupported(other)),
    })
}

/// Appends the encoding of `v` to `out`.
pub fn encode(v: &Value, out: &mut Vec<u8>) {
    match v {
        Value::Number(n) => {
            out.push(0x00);
            out.extend_from_slice(&n.to_be_bytes());
        }
        Value::Boolean(b) => out.extend_from_slice(&[0x01, u8::from(*b)]),
        Value::String(s) if s.len() <= usize::from(u16::MAX) => {
            out.push(0x02);
            out.extend_from_slice(&(s.len() as u16).to_be_bytes());
            out.extend_from_slice(s.as_bytes());
        }
        Value::String(s) => {
            out.push(0x0C);
            out.extend_from_slice(&(s.len() as u32).to_be_bytes());
            out.extend_from_slice(s.as_bytes());
        }
        Value::Object(props) => {
            out.push(0x03);
            for (k, v) in props {
                let k = &k.as_bytes()[..k.len().min(usize::from(u16::MAX))];
                out.extend_from_slice(&(k.len() as u16).to_be_bytes());
                out.extend_from_slice(k);
                encode(v, out);
            }
            out.extend_from_slice(&[0, 0, 0x09]);
        }
        Value::Null => out.push(0x05),
        Value::Undefined => out.push(0x06),
        Value::Array(items) => {
            out.push(0x0A);
            out.extend_from_slice(&(items.len() as u32).to_be_bytes());
            for i in items {
                encode(i, out);
            }
        }
        Value::Date(ms) => {
            out.push(0x0B);
            out.extend_from_slice(&ms.to_be_bytes());
            out.extend_from_slice(&[0, 0]);
        }
    }
}

/// Encodes a list of values.
pub fn encode_all(values: &[Value]) -> Vec<u8> {
    let mut out = Vec::new();
    for v in values {
        encode(v, &mut out);
    }
    out
}

/// Shorthand for an object from string keys.
pub fn object(props: &[(&str, Value)]) -> Value {
    Value::Object(props.iter().map(|(k, v)| ((*k).to_owned(), v.clone())).collect())
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{self:?}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connect_command_bytes_decode() {
        // "connect", 1.0, {app: "live", tcUrl: "rtmp://h/live"} as ffmpeg sends them.
        let mut bytes = vec![0x02, 0x00, 0x07];
        bytes.extend_from_slice(b"connect");
        bytes.push(0x00);
        bytes.extend_from_slice(&1.0f64.to_be_bytes());
        bytes.push(0x03);
        for (k, v) in [("app", "live"), ("tcUrl", "rtmp://h/live")] {
            bytes.extend_from_slice(&(k.len() as u16).to_be_bytes());
            bytes.extend_from_slice(k.as_bytes());
            bytes.push(0x02);
            bytes.extend_from_slice(&(v.len() as u16).to_be_bytes());
            bytes.extend_from_slice(v.as_bytes());
        }
        bytes.extend_from_slice(&[0, 0, 9]);
        let v = decode_all(&bytes).unwrap();
        assert_eq!(v[0].as_str(), Some("connect"));
        assert_eq!(v[1].as_f64(), Some(1.0));
        assert_eq!(v[2].get("app").and_then(Value::as_str), Some("live"));
        assert_eq!(encode_all(&v), bytes, "re-encodes to the same bytes");
    }

    #[test]
    fn round_trips_every_type() {
        let v = vec![
            Value::Number(-1.5),
            Value::Boolean(true),
            Value::String("é".into()),
            object(&[("a", Value::Null), ("b", Value::Array(vec![Value::Undefined, Value::Date(5.0)]))]),
            Value::String("x".repeat(70_000)),
        ];
        assert_eq!(decode_all(&encode_all(&v)).unwrap(), v);
    }

    #[test]
    fn hostile_input_is_refused_not_panicked() {
        // Nesting bomb: 10,000 nested objects.
        let mut bomb = Vec::new();
        for _ in 0..10_000 {
            bomb.extend_from_slice(&[0x03, 0x00, 0x01, b'a']);
        }
        assert_eq!(decode_all(&bomb), Err(AmfError::TooLarge));
        // Strict array claiming 4 billion elements.
        assert_eq!(decode_all(&[0x0A, 0xFF, 0xFF, 0xFF, 0xFF]), Err(AmfError::TooLarge));
        // Long string longer than the buffer.
        assert_eq!(decode_all(&[0x0C, 0xFF, 0xFF, 0xFF, 0xFF, b'a']), Err(AmfError::Truncated));
        assert_eq!(decode_all(&[0x02, 0x00]), Err(AmfError::Truncated));
        assert_eq!(decode_all(&[0x11]), Err(AmfError::Unsupported(0x11)));
        assert_eq!(decode_all(&[0x02, 0x00, 0x01, 0xFF]), Err(AmfError::Utf8));
        // Every prefix of a valid encoding fails cleanly.
        let good = encode_all(&[object(&[("k", Value::Array(vec![Value::Number(1.0)]))])]);
        for n in 0..good.len() {
            assert!(decode_all(&good[..n]).is_err() || n == 0);
        }
    }
}
