//! Resumable sessions, the `resume/1` extension (docs/PROTOCOL.md §9): the
//! sequence counts, the acknowledgements and the replay buffer of one
//! connection.
//!
//! Sequence numbers are implicit: the n-th application message a side
//! sends (every text or binary message after the handshake but the
//! acknowledgements themselves) has number n. Each side acknowledges what
//! it received with a text message `@ack <n>\r\n` (`n` in decimal, the
//! count received so far). `@` can start no HTTP message (it is not a
//! method token character), and the streaming extension's frames are named
//! otherwise (`@data`, `@end`, …), so an acknowledgement is never taken for
//! anything else.

use bytes::Bytes;
use std::collections::VecDeque;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

/// The extension's name in the handshake's `Features`.
pub(crate) const RESUME: &str = "resume/1";

/// An acknowledgement goes out after this many messages received…
pub(crate) const ACK_EVERY_MESSAGES: u64 = 64;
/// …or this many bytes…
pub(crate) const ACK_EVERY_BYTES: usize = 16 << 10;
/// …or this long after the first message it covers, whichever comes first.
pub(crate) const ACK_DELAY: Duration = Duration::from_millis(250);

const ACK_PREFIX: &[u8] = b"@ack ";

/// The acknowledgement of `count` messages received.
pub(crate) fn encode_ack(count: u64) -> Bytes {
    Bytes::from(format!("@ack {count}\r\n"))
}

/// Whether a data message is an acknowledgement (well formed or not).
pub(crate) fn is_ack(data: &[u8]) -> bool {
    data.starts_with(ACK_PREFIX)
}

/// The count an acknowledgement carries; an error that says what is wrong.
pub(crate) fn parse_ack(data: &[u8]) -> Result<u64, String> {
    let rest = &data[ACK_PREFIX.len()..];
    let digits = rest.strip_suffix(b"\r\n").ok_or_else(|| {
        format!(
            "malformed acknowledgement {:?}: it must end in CR LF",
            crate::log_safe::excerpt(data)
        )
    })?;
    if digits.is_empty() || digits.len() > 20 || !digits.iter().all(u8::is_ascii_digit) {
        return Err(format!(
            "malformed acknowledgement {:?}: the count must be decimal digits",
            crate::log_safe::excerpt(data)
        ));
    }
    std::str::from_utf8(digits)
        .ok()
        .and_then(|d| d.parse::<u64>().ok())
        .ok_or_else(|| {
            format!(
                "malformed acknowledgement {:?}: the count is out of range",
                crate::log_safe::excerpt(data)
            )
        })
}

/// 32 random bytes, in hex: the secret a client presents to resume.
pub(crate) fn new_token() -> String {
    use rand::Rng;
    let mut bytes = [0u8; 32];
    rand::rng().fill(&mut bytes);
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Compares two tokens in time that depends on their length only.
pub(crate) fn same_token(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// What one side keeps of a resumable session.
pub(crate) struct ResumeState {
    pub(crate) token: String,
    pub(crate) window: Duration,
    pub(crate) counts: Mutex<Counts>,
    /// True while the session has no socket; `changed` wakes whoever
    /// waits for it to change (lighter than a watch channel: every
    /// resumable connection has these).
    detached: std::sync::atomic::AtomicBool,
    pub(crate) changed: tokio::sync::Notify,
    /// Counts the sockets the session has had.
    pub(crate) generation: std::sync::atomic::AtomicU64,
    /// Serializes resumes of the session (a server may see two).
    pub(crate) gate: std::sync::Arc<tokio::sync::Mutex<()>>,
}

/// The sequence counts and the replay buffer.
pub(crate) struct Counts {
    /// Application messages sent (fed to a socket).
    pub(crate) sent: u64,
    /// Application messages received.
    pub(crate) received: u64,
    /// Received and not yet acknowledged: messages, bytes.
    pub(crate) unacked: u64,
    pub(crate) unacked_bytes: usize,
    /// Sent and not acknowledged by the peer, oldest first, with their
    /// sequence numbers.
    pub(crate) replay: VecDeque<(u64, crate::connection::Replayable)>,
    pub(crate) replay_bytes: usize,
    pub(crate) replay_limit: usize,
    /// The highest sequence number dropped from the buffer unacknowledged
    /// (0: none): a resume from a lower count is impossible.
    pub(crate) lost_through: u64,
    /// The peer acknowledged this many.
    pub(crate) acked: u64,
    /// Messages sent again after resumes.
    pub(crate) replayed: u64,
}

impl ResumeState {
    pub(crate) fn new(token: String, window: Duration, replay_limit: usize) -> Self {
        ResumeState {
            token,
            window,
            counts: Mutex::new(Counts {
                sent: 0,
                received: 0,
                unacked: 0,
                unacked_bytes: 0,
                replay: VecDeque::new(),
                replay_bytes: 0,
                replay_limit,
                lost_through: 0,
                acked: 0,
                replayed: 0,
            }),
            detached: std::sync::atomic::AtomicBool::new(false),
            changed: tokio::sync::Notify::new(),
            generation: std::sync::atomic::AtomicU64::new(0),
            gate: std::sync::Arc::new(tokio::sync::Mutex::new(())),
        }
    }

    pub(crate) fn counts(&self) -> std::sync::MutexGuard<'_, Counts> {
        self.counts.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn is_detached(&self) -> bool {
        self.detached.load(std::sync::atomic::Ordering::SeqCst)
    }

    pub(crate) fn set_detached(&self, detached: bool) {
        self.detached
            .store(detached, std::sync::atomic::Ordering::SeqCst);
        self.changed.notify_waiters();
    }
}

impl Counts {
    /// Records a message fed to the socket.
    pub(crate) fn record(&mut self, message: crate::connection::Replayable, len: usize) {
        self.sent += 1;
        self.replay.push_back((self.sent, message));
        self.replay_bytes += len;
        while self.replay_bytes > self.replay_limit {
            let Some((seq, old)) = self.replay.pop_front() else {
                break;
            };
            self.replay_bytes = self.replay_bytes.saturating_sub(old.len());
            self.lost_through = seq;
        }
    }

    /// The peer acknowledged `count` messages; an error if it claims more
    /// than were sent.
    pub(crate) fn acknowledge(&mut self, count: u64) -> Result<(), String> {
        if count > self.sent {
            return Err(format!(
                "the peer acknowledged {count} messages, but only {} were sent",
                self.sent
            ));
        }
        self.acked = self.acked.max(count);
        while let Some((seq, _)) = self.replay.front() {
            if *seq > count {
                break;
            }
            if let Some((_, old)) = self.replay.pop_front() {
                self.replay_bytes = self.replay_bytes.saturating_sub(old.len());
            }
        }
        Ok(())
    }

    /// Whether the peer, which received `peer_received` of our messages,
    /// can be sent all it lacks; the reason if not.
    pub(crate) fn can_resume_from(&self, peer_received: u64) -> Result<(), String> {
        if peer_received > self.sent {
            return Err(format!(
                "count mismatch: the peer says it received {peer_received} messages, \
                 but {} were sent",
                self.sent
            ));
        }
        if peer_received < self.lost_through {
            return Err(format!(
                "replay buffer exceeded: messages {}..={} were dropped from the \
                 {}-byte replay buffer before the peer acknowledged them",
                peer_received + 1,
                self.lost_through,
                self.replay_limit
            ));
        }
        Ok(())
    }

    /// The messages the peer lacks, to send again.
    pub(crate) fn replay_after(
        &mut self,
        peer_received: u64,
    ) -> Vec<crate::connection::Replayable> {
        let _ = self.acknowledge(peer_received);
        let out: Vec<_> = self.replay.iter().map(|(_, m)| m.clone()).collect();
        self.replayed += out.len() as u64;
        out
    }

    /// Counts a message received; true when an acknowledgement is due now.
    pub(crate) fn received(&mut self, len: usize) -> bool {
        self.received += 1;
        self.unacked += 1;
        self.unacked_bytes += len;
        self.unacked >= ACK_EVERY_MESSAGES || self.unacked_bytes >= ACK_EVERY_BYTES
    }

    /// The count to acknowledge, if anything is unacknowledged.
    pub(crate) fn take_ack(&mut self) -> Option<u64> {
        if self.unacked == 0 {
            return None;
        }
        self.unacked = 0;
        self.unacked_bytes = 0;
        Some(self.received)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn acks_round_trip_and_bad_ones_are_refused() {
        assert_eq!(parse_ack(&encode_ack(0)), Ok(0));
        assert_eq!(parse_ack(&encode_ack(u64::MAX)), Ok(u64::MAX));
        assert!(is_ack(b"@ack 12\r\n"));
        assert!(!is_ack(b"@data 1 x"));
        for bad in [
            &b"@ack \r\n"[..],
            b"@ack 12",
            b"@ack -1\r\n",
            b"@ack 1 2\r\n",
            b"@ack 99999999999999999999\r\n",
        ] {
            assert!(parse_ack(bad).is_err(), "{bad:?}");
        }
    }

    fn sent(counts: &mut Counts, n: usize) {
        for _ in 0..n {
            let m = crate::connection::Outgoing::text("0123456789");
            let len = m.len();
            counts.record(m, len);
        }
    }

    #[test]
    fn acks_trim_the_replay_buffer_and_resumes_send_what_is_missing() {
        let state = ResumeState::new(new_token(), Duration::from_secs(30), 1000);
        let mut counts = state.counts();
        sent(&mut counts, 10);
        assert_eq!(
            (counts.sent, counts.replay.len(), counts.replay_bytes),
            (10, 10, 100)
        );
        counts.acknowledge(4).unwrap();
        assert_eq!(counts.replay.len(), 6);
        // An old acknowledgement changes nothing; one past what was sent is refused.
        counts.acknowledge(2).unwrap();
        assert_eq!(counts.replay.len(), 6);
        assert!(counts.acknowledge(11).is_err());
        // The peer got 7: messages 8..=10 go again.
        assert!(counts.can_resume_from(7).is_ok());
        assert_eq!(counts.replay_after(7).len(), 3);
        assert_eq!(counts.replayed, 3);
        assert!(counts
            .can_resume_from(11)
            .unwrap_err()
            .contains("count mismatch"));
    }

    #[test]
    fn an_overflowing_replay_buffer_refuses_what_it_dropped() {
        let state = ResumeState::new(new_token(), Duration::from_secs(30), 35);
        let mut counts = state.counts();
        sent(&mut counts, 5);
        // 35 bytes hold 3 messages of 10: 1 and 2 were dropped.
        assert_eq!((counts.replay.len(), counts.lost_through), (3, 2));
        assert!(counts.can_resume_from(2).is_ok());
        let why = counts.can_resume_from(1).unwrap_err();
        assert!(why.contains("replay buffer exceeded"), "{why}");
    }

    #[test]
    fn an_ack_is_due_after_64_messages_or_16_kib() {
        let state = ResumeState::new(new_token(), Duration::from_secs(30), 1000);
        let mut counts = state.counts();
        for _ in 0..63 {
            assert!(!counts.received(10));
        }
        assert!(counts.received(10));
        assert_eq!(counts.take_ack(), Some(64));
        assert_eq!(counts.take_ack(), None);
        assert!(counts.received(ACK_EVERY_BYTES));
    }

    #[test]
    fn tokens_are_random_hex_and_compare() {
        let a = new_token();
        let b = new_token();
        assert_eq!(a.len(), 64);
        assert!(a.bytes().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(a, b);
        assert!(same_token(&a, &a.clone()));
        assert!(!same_token(&a, &b));
        assert!(!same_token(&a, &a[..63]));
    }
}
