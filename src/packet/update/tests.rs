//! Tests of the UPDATE structural walk.

use super::*;

#[test]
fn as_path_segments_must_match_their_counts() {
    assert!(as_path_ok(&[], true));
    assert!(as_path_ok(&[2, 1, 0, 0, 0xfb, 0xf0], true));
    assert!(!as_path_ok(&[2, 1, 0, 0, 0xfb], true));
    assert!(as_path_ok(&[2, 1, 0xfb, 0xf0], false));
    assert!(!as_path_ok(&[2, 0], false));
    assert!(!as_path_ok(&[9, 1, 0xfb, 0xf0], false));
    assert!(!as_path_ok(&[2], false));
}

#[test]
fn an_empty_update_is_the_ipv4_end_of_rib() {
    let w = walk(&[0, 0, 0, 0], true).expect("walk");
    assert_eq!(w.end_of_rib, Some(Family::Ipv4Unicast));
}

#[test]
fn a_later_duplicate_attribute_is_discarded() {
    let body = [
        0, 0, 0, 8, 0x40, 1, 1, 0, 0x40, 1, 1, 2, //
    ];
    let w = walk(&body, true).expect("walk");
    assert_eq!(w.attrs.len(), 1);
    assert_eq!(w.attrs[0].value, &[0]);
}

#[test]
fn a_malformed_atomic_aggregate_is_discarded_not_withdrawn() {
    let body = [
        0, 0, 0, 18, 0x40, 1, 1, 0, 0x40, 2, 0, 0x40, 3, 4, 192, 0, 2, 1, 0x40, 6, 1, 9, 32, 198,
        51, 100, 1,
    ];
    let w = walk(&body, true).expect("walk");
    assert_eq!(w.treat_as_withdraw, None);
    assert!(w.attrs.iter().all(|a| a.kind != ATOMIC_AGGREGATE));
    assert_eq!(w.announced.len(), 1);
}
