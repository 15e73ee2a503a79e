//! The messages on the parent/child sync channel (a `SOCK_SEQPACKET` pair: one record per message).
//!
//! Child to parent: `R` ready (namespaces joined and unshared), `F` + pid (forked the final process), `W` waiting
//! at the exec gate, `E` + error record; end-of-file means the exec succeeded (the close-on-exec socket closed). Parent to child: `G` go.
//!
//! Error record: `E`, errno flag (0/1), errno (i32 LE), stage length (u16 LE), stage, message length (u16 LE),
//! message. Strings are cut at a character boundary to fit in [`MAX_MESSAGE`].

use crate::error::WireError;
use crate::ChildError;

/// The largest record sent on the channel.
pub(crate) const MAX_MESSAGE: usize = 4096;
const MAX_STAGE: usize = 256;
const MAX_TEXT: usize = MAX_MESSAGE - MAX_STAGE - 16;

/// The parent's go-ahead.
pub(crate) const GO: &[u8] = b"G";

/// A message from the child.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ToParent {
    /// Joined and unshared the namespaces; waiting for the id maps.
    Ready,
    /// Forked the final container process (pid in the parent's PID namespace); the sender exits.
    Forked(i32),
    /// Every step is done; the process waits at the exec gate.
    Waiting,
    /// A step failed; the sender exits.
    Failed(ChildError),
}

impl ToParent {
    /// The record for this message.
    pub(crate) fn encode(&self) -> Vec<u8> {
        match self {
            ToParent::Ready => vec![b'R'],
            ToParent::Waiting => vec![b'W'],
            ToParent::Forked(pid) => {
                let mut buf = vec![b'F'];
                buf.extend_from_slice(&pid.to_le_bytes());
                buf
            }
            ToParent::Failed(err) => encode_error(err),
        }
    }

    /// Parses a record.
    pub(crate) fn decode(buf: &[u8]) -> Result<Self, WireError> {
        let (&tag, rest) = buf.split_first().ok_or(WireError::Empty)?;
        match tag {
            b'R' => Ok(ToParent::Ready),
            b'W' => Ok(ToParent::Waiting),
            b'F' => {
                let pid = rest.get(..4).ok_or(WireError::Truncated("forked"))?;
                Ok(ToParent::Forked(i32::from_le_bytes(
                    pid.try_into().map_err(|_| WireError::Truncated("forked"))?,
                )))
            }
            b'E' => decode_error(rest).map(ToParent::Failed),
            other => Err(WireError::UnknownTag(other)),
        }
    }

    /// The message's name, for errors.
    pub(crate) fn name(&self) -> &'static str {
        match self {
            ToParent::Ready => "ready",
            ToParent::Waiting => "waiting",
            ToParent::Forked(_) => "forked",
            ToParent::Failed(_) => "error",
        }
    }
}

fn truncate(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

fn encode_error(err: &ChildError) -> Vec<u8> {
    let stage = truncate(&err.stage, MAX_STAGE);
    let message = truncate(&err.message, MAX_TEXT);
    let mut buf = Vec::with_capacity(12 + stage.len() + message.len());
    buf.push(b'E');
    buf.push(u8::from(err.errno.is_some()));
    buf.extend_from_slice(&err.errno.unwrap_or(0).to_le_bytes());
    for text in [stage, message] {
        buf.extend_from_slice(&(text.len() as u16).to_le_bytes());
        buf.extend_from_slice(text.as_bytes());
    }
    buf
}

/// Reads fields off the front of a record.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], WireError> {
        if self.0.len() < n {
            return Err(WireError::Truncated("error"));
        }
        let (head, tail) = self.0.split_at(n);
        self.0 = tail;
        Ok(head)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], WireError> {
        self.take(N)?
            .try_into()
            .map_err(|_| WireError::Truncated("error"))
    }

    fn text(&mut self) -> Result<String, WireError> {
        let len = u16::from_le_bytes(self.array()?) as usize;
        Ok(String::from_utf8_lossy(self.take(len)?).into_owned())
    }
}

fn decode_error(rest: &[u8]) -> Result<ChildError, WireError> {
    let mut reader = Reader(rest);
    let [has_errno] = reader.array()?;
    let errno = i32::from_le_bytes(reader.array()?);
    let stage = reader.text()?;
    let message = reader.text()?;
    Ok(ChildError {
        stage,
        errno: (has_errno != 0).then_some(errno),
        message,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(msg: ToParent) {
        let buf = msg.encode();
        assert!(buf.len() <= MAX_MESSAGE);
        assert_eq!(ToParent::decode(&buf), Ok(msg));
    }

    #[test]
    fn messages_round_trip() {
        round_trip(ToParent::Ready);
        round_trip(ToParent::Forked(123_456));
        round_trip(ToParent::Failed(ChildError::new(
            "exec",
            Some(libc::ENOENT),
            "/nope",
        )));
        round_trip(ToParent::Failed(ChildError::new("setup", None, "")));
        round_trip(ToParent::Failed(ChildError::new(
            "",
            Some(0),
            "zero errno is kept",
        )));
    }

    #[test]
    fn long_texts_are_cut_at_a_char_boundary() {
        let long = "é".repeat(5000);
        let buf = ToParent::Failed(ChildError::new(long.clone(), Some(1), long)).encode();
        assert!(buf.len() <= MAX_MESSAGE);
        let ToParent::Failed(err) = ToParent::decode(&buf).unwrap() else {
            panic!("not an error")
        };
        assert_eq!(err.stage.len(), MAX_STAGE);
        assert!(err.stage.chars().all(|c| c == 'é'));
        assert!(err.message.len() <= MAX_TEXT && err.message.len() > MAX_TEXT - 2);
    }

    #[test]
    fn malformed_records_are_refused() {
        assert_eq!(ToParent::decode(b""), Err(WireError::Empty));
        assert_eq!(ToParent::decode(b"Z"), Err(WireError::UnknownTag(b'Z')));
        assert_eq!(
            ToParent::decode(b"F\x01"),
            Err(WireError::Truncated("forked"))
        );
        let mut buf = ToParent::Failed(ChildError::new("stage", None, "message")).encode();
        buf.truncate(buf.len() - 1);
        assert_eq!(ToParent::decode(&buf), Err(WireError::Truncated("error")));
    }
}
