//! Accounting of malformed UPDATEs for `/status` and `/metrics`: what RFC 7606 handling did, to
//! which attribute.

use crate::packet::message::{attribute_name, Notification};
use crate::status::session::PeerStatus;

/// Counts one decision about `attribute` under `action`.
pub fn count(s: &mut PeerStatus, action: &'static str, attribute: String, reason: &str) {
    let c = s
        .counters
        .update_errors
        .entry((action, attribute))
        .or_default();
    c.count += 1;
    c.last_reason = reason.to_string();
}

/// What a session-resetting NOTIFICATION was about: the attribute its data carries (3/2, 3/9
/// carry the attribute, RFC 4271 §6.3), `NLRI` for 3/10, else the attribute list.
pub fn reset_subject(n: &Notification) -> String {
    match (n.code, n.subcode) {
        (3, 10) => "NLRI".to_string(),
        (3, 2 | 9) => n
            .data
            .get(1)
            .map_or_else(|| attribute_name(0), |kind| attribute_name(*kind)),
        (3, _) => attribute_name(0),
        _ => "message".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reset_names_the_attribute_its_notification_carries() {
        let n = Notification::raw(3, 9, vec![0x80, 14, 1, 0]);
        assert_eq!(reset_subject(&n), "MP_REACH_NLRI");
        let n = Notification::raw(3, 2, vec![0x40, 99, 0]);
        assert_eq!(reset_subject(&n), "type 99");
        assert_eq!(
            reset_subject(&Notification::raw(3, 1, vec![])),
            "attribute list"
        );
        assert_eq!(reset_subject(&Notification::raw(3, 10, vec![])), "NLRI");
    }
}
