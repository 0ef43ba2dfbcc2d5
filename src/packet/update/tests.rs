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

// The RFC 7606 matrix, one row per class, on an eBGP 4-octet-AS session unless a row says
// otherwise. The same rows run against a live daemon (and BIRD) in tests/malformed.rs.

const ORIGIN_IGP: &[u8] = &[0x40, 1, 1, 0];
const PATH_64496: &[u8] = &[0x40, 2, 6, 2, 1, 0, 0, 0xfb, 0xf0];
const NH_192_0_2_1: &[u8] = &[0x40, 3, 4, 192, 0, 2, 1];
const NLRI_198_51_100_1: &[u8] = &[32, 198, 51, 100, 1];

/// An UPDATE body: withdrawn routes, attributes (each with its header) and NLRI.
fn body(withdrawn: &[u8], attrs: &[&[u8]], nlri: &[u8]) -> Vec<u8> {
    let attrs: Vec<u8> = attrs.concat();
    let mut out = Vec::new();
    out.extend_from_slice(&(withdrawn.len() as u16).to_be_bytes());
    out.extend_from_slice(withdrawn);
    out.extend_from_slice(&(attrs.len() as u16).to_be_bytes());
    out.extend_from_slice(&attrs);
    out.extend_from_slice(nlri);
    out
}

/// A well-formed announcement of 198.51.100.1/32 with `extra` attributes after the mandatory
/// ones, or with one of them replaced when `extra` has the same type (the first one counts).
fn announce(extra: &[&[u8]]) -> Vec<u8> {
    let mut attrs: Vec<&[u8]> = extra.to_vec();
    for base in [ORIGIN_IGP, PATH_64496, NH_192_0_2_1] {
        if !extra.iter().any(|a| a.get(1) == base.get(1)) {
            attrs.push(base);
        }
    }
    body(&[], &attrs, NLRI_198_51_100_1)
}

fn ebgp() -> WalkParams {
    WalkParams {
        four_octet_as: true,
        ibgp: false,
    }
}

/// The one decision the walk made, as (action, attribute); the routes are checked too.
fn decided(bytes: &[u8], params: WalkParams) -> (ErrorAction, u8) {
    let w = walk_with(bytes, params).expect("no session reset");
    assert_eq!(w.errors.len(), 1, "one decision: {:?}", w.errors);
    let e = w.errors[0];
    match e.action {
        ErrorAction::TreatAsWithdraw => assert!(w.treat_as_withdraw.is_some()),
        ErrorAction::AttributeDiscard => {
            assert_eq!(w.treat_as_withdraw, None);
            assert!(w.attrs.iter().all(|a| a.kind != e.attribute));
        }
    }
    (e.action, e.attribute)
}

fn reset(bytes: &[u8], params: WalkParams) -> (u8, u8) {
    let n = walk_with(bytes, params).expect_err("session reset");
    (n.code, n.subcode)
}

use super::super::message::ErrorAction::{
    AttributeDiscard as Discard, TreatAsWithdraw as Withdraw,
};

#[test]
fn a_well_formed_announcement_has_no_errors() {
    let bytes = announce(&[]);
    let w = walk_with(&bytes, ebgp()).expect("walk");
    assert!(w.errors.is_empty());
    assert_eq!(w.announced.len(), 1);
    assert_eq!(w.attrs.len(), 3);
}

#[test]
fn malformed_route_attributes_are_treat_as_withdraw() {
    let rows: [(&[u8], u8); 15] = [
        (&[0x40, 1, 2, 0, 0], ORIGIN),
        (&[0x40, 1, 1, 3], ORIGIN),
        (&[0x40, 2, 6, 2, 2, 0, 0, 0xfb, 0xf0], AS_PATH),
        (&[0x40, 2, 6, 3, 1, 0, 0, 0xfb, 0xf0], AS_PATH),
        (&[0x40, 3, 5, 192, 0, 2, 1, 0], NEXT_HOP),
        (&[0x40, 3, 4, 0, 0, 0, 0], NEXT_HOP),
        (&[0x40, 3, 4, 224, 0, 0, 1], NEXT_HOP),
        (&[0x80, 4, 3, 0, 0, 1], MED),
        (&[0xc0, 8, 5, 0, 0, 0, 1, 2], COMMUNITIES),
        (&[0xc0, 8, 0], COMMUNITIES),
        (
            &[0xc0, 32, 11, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0],
            LARGE_COMMUNITY,
        ),
        (&[0x80, 9, 3, 192, 0, 2], ORIGINATOR_ID),
        (&[0x80, 10, 5, 192, 0, 2, 1, 9], CLUSTER_LIST),
        (&[0xc0, 16, 7, 0, 2, 0, 1, 0, 0, 0], EXTENDED_COMMUNITIES),
        (
            &[
                0xc0, 25, 19, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1,
            ],
            IPV6_EXTENDED_COMMUNITIES,
        ),
    ];
    for (attr, kind) in rows {
        assert_eq!(
            decided(&announce(&[attr]), ebgp()),
            (Withdraw, kind),
            "{attr:?}"
        );
    }
}

#[test]
fn ibgp_local_pref_is_checked_and_ebgp_local_pref_is_discarded() {
    let ibgp = WalkParams {
        ibgp: true,
        ..ebgp()
    };
    let bad = [0x40, 5, 3, 0, 0, 100];
    assert_eq!(decided(&announce(&[&bad]), ibgp), (Withdraw, LOCAL_PREF));
    let good = [0x40, 5, 4, 0, 0, 0, 100];
    let bytes = announce(&[&good]);
    let w = walk_with(&bytes, ibgp).expect("walk");
    assert!(w.errors.is_empty() && w.attrs.iter().any(|a| a.kind == LOCAL_PREF));
    assert_eq!(decided(&announce(&[&good]), ebgp()), (Discard, LOCAL_PREF));
}

#[test]
fn conflicting_flags_are_treat_as_withdraw() {
    // ORIGIN flagged optional; COMMUNITIES flagged non-transitive; MED flagged transitive.
    for (attr, kind) in [
        (&[0xc0, 1, 1, 0][..], ORIGIN),
        (&[0x80, 8, 4, 0, 0, 0, 1][..], COMMUNITIES),
        (&[0xc0, 4, 4, 0, 0, 0, 1][..], MED),
    ] {
        assert_eq!(
            decided(&announce(&[attr]), ebgp()),
            (Withdraw, kind),
            "{attr:?}"
        );
    }
}

#[test]
fn attributes_that_do_not_affect_the_route_are_discarded() {
    let two_octet = WalkParams {
        four_octet_as: false,
        ibgp: false,
    };
    let path_2 = [0x40, 2, 4, 2, 1, 0xfb, 0xf0];
    let rows: [(&[u8], u8, WalkParams); 6] = [
        (&[0x40, 6, 1, 9], ATOMIC_AGGREGATE, ebgp()),
        (&[0xc0, 7, 6, 0xfb, 0xf0, 192, 0, 2, 1], AGGREGATOR, ebgp()),
        (
            &[0xc0, 7, 8, 0, 0, 0xfb, 0xf0, 192, 0, 2, 1],
            AGGREGATOR,
            two_octet,
        ),
        (&[0xc0, 17, 6, 2, 1, 0, 0, 0xfb, 0xf0], AS4_PATH, ebgp()),
        (&[0xc0, 17, 5, 2, 1, 0, 0, 0xfb], AS4_PATH, two_octet),
        (
            &[0xc0, 18, 6, 0xfb, 0xf0, 192, 0, 2, 1],
            AS4_AGGREGATOR,
            two_octet,
        ),
    ];
    for (attr, kind, params) in rows {
        let bytes = if params.four_octet_as {
            announce(&[attr])
        } else {
            announce(&[attr, &path_2])
        };
        assert_eq!(decided(&bytes, params), (Discard, kind), "{attr:?}");
    }
}

#[test]
fn unknown_optional_attributes_are_accepted_and_unknown_well_known_ones_reset() {
    // Optional transitive with the Partial bit, and optional non-transitive.
    for attr in [&[0xe0, 99, 2, 1, 2][..], &[0x80, 99, 0][..]] {
        let bytes = announce(&[attr]);
        let w = walk_with(&bytes, ebgp()).expect("walk");
        assert!(w.errors.is_empty(), "{attr:?}: {:?}", w.errors);
        assert_eq!(w.treat_as_withdraw, None);
    }
    let n = walk_with(&announce(&[&[0x40, 99, 1, 7]]), ebgp()).expect_err("reset");
    assert_eq!((n.code, n.subcode), (3, 2));
    assert_eq!(n.data, vec![0x40, 99, 1, 7], "the data is the attribute");
}

#[test]
fn malformed_or_repeated_mp_attributes_reset_the_session() {
    let mp_reach_v6 = [
        0x80, 14, 21, 0, 2, 1, 16, 0x20, 1, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0,
    ];
    let rows: [&[u8]; 4] = [
        &[0x80, 14, 1, 0],                                      // cut after one byte
        &[0x80, 14, 13, 0, 2, 1, 7, 0, 0, 0, 0, 0, 0, 0, 0, 0], // next hop length 7
        &[0x80, 15, 2, 0, 2],                                   // MP_UNREACH cut in the family
        &[0x80, 15, 5, 0, 2, 1, 129, 0],                        // IPv6 prefix length 129
    ];
    for attr in rows {
        let bytes = body(&[], &[ORIGIN_IGP, PATH_64496, attr], &[]);
        assert_eq!(reset(&bytes, ebgp()), (3, 9), "{attr:?}");
    }
    let twice = body(
        &[],
        &[ORIGIN_IGP, PATH_64496, &mp_reach_v6, &mp_reach_v6],
        &[],
    );
    assert_eq!(reset(&twice, ebgp()), (3, 1));
    let once = body(&[], &[ORIGIN_IGP, PATH_64496, &mp_reach_v6], &[]);
    let w = walk_with(&once, ebgp()).expect("one MP_REACH parses");
    assert_eq!(
        w.announced.len(),
        0,
        "an MP_REACH with no NLRI announces nothing"
    );
}

#[test]
fn an_attribute_running_past_the_block_withdraws_what_the_nlri_field_announces() {
    // COMMUNITIES claims 8 bytes where 4 are left: RFC 7606 §4, the NLRI field is still found.
    let bytes = body(
        &[],
        &[
            ORIGIN_IGP,
            PATH_64496,
            NH_192_0_2_1,
            &[0xc0, 8, 8, 0, 0, 0, 1],
        ],
        NLRI_198_51_100_1,
    );
    assert_eq!(decided(&bytes, ebgp()), (Withdraw, 0));
    // Header cut before its length byte.
    let mut attrs = [ORIGIN_IGP, PATH_64496, NH_192_0_2_1].concat();
    attrs.extend_from_slice(&[0xc0, 8]);
    assert_eq!(
        decided(&body(&[], &[&attrs], NLRI_198_51_100_1), ebgp()),
        (Withdraw, 0)
    );
}

#[test]
fn treat_as_withdraw_with_nothing_to_withdraw_resets_the_session() {
    // RFC 7606 §5.2: a withdraw-only UPDATE with a malformed attribute, and a framing error
    // in an UPDATE without NLRI.
    let bad = body(&[24, 198, 51, 100], &[&[0xc0, 8, 5, 0, 0, 0, 1, 2]], &[]);
    assert_eq!(reset(&bad, ebgp()), (3, 1));
    let framing = body(&[], &[ORIGIN_IGP, &[0xc0, 8, 9, 0]], &[]);
    assert_eq!(reset(&framing, ebgp()), (3, 1));
}

#[test]
fn missing_mandatory_attributes_are_treat_as_withdraw() {
    let no_origin = body(&[], &[PATH_64496, NH_192_0_2_1], NLRI_198_51_100_1);
    assert_eq!(decided(&no_origin, ebgp()), (Withdraw, ORIGIN));
    let no_next_hop = body(&[], &[ORIGIN_IGP, PATH_64496], NLRI_198_51_100_1);
    assert_eq!(decided(&no_next_hop, ebgp()), (Withdraw, NEXT_HOP));
}

#[test]
fn lengths_past_the_message_and_bad_nlri_reset_the_session() {
    // Total Path Attribute Length 200 with 3 bytes there.
    assert_eq!(reset(&[0, 0, 0, 200, 0x40, 1, 1], ebgp()), (3, 1));
    // Withdrawn Routes Length past the end.
    assert_eq!(reset(&[0, 9, 24, 198], ebgp()), (3, 1));
    // NLRI prefix length 33.
    let bytes = body(
        &[],
        &[ORIGIN_IGP, PATH_64496, NH_192_0_2_1],
        &[33, 198, 51, 100, 1, 0],
    );
    assert_eq!(reset(&bytes, ebgp()), (3, 10));
}
