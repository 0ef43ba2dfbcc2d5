//! The bodies of the fuzz targets in `fuzz/fuzz_targets/`, one plain function per parser of
//! untrusted bytes, so that the targets are one-liners and a stable test
//! (`tests/fuzz_corpus.rs`) replays the checked-in corpus through the same code.
//!
//! Each function takes arbitrary bytes; errors are fine, panics are not. Where a property is
//! cheap to check, it is checked with an `assert!`, so a violation is a crash the fuzzer
//! reports like a panic of the parser:
//!
//! | target | parser | property |
//! |---|---|---|
//! | [`decode`] | `packet::codec::decode` over a stream, params from the first byte | OPEN, NOTIFICATION, KEEPALIVE, ROUTE-REFRESH re-encode to what decodes the same; an UPDATE's prefixes are the walk's |
//! | [`walk`] | `packet::update::walk`, AS width from the first byte | the framed body decodes if and only if the walk accepts it |
//! | [`open`] | `packet::open::decode` | decode(encode(x)) == x |
//! | [`config`] | node.toml (`config::parse_with`) | — |
//! | [`manifest`] | `check --manifests` and `migrate --from-metallb` YAML | what migrate prints is YAML / TOML again |
//! | [`bfd`] | BFD Control packets, and one session driven by them | parse(to_bytes(x)) == x |
//! | [`l2`] | the ARP/NDP classifier and each wire layer | emit/parse round trips, answers parse |

use std::collections::BTreeSet;
use std::num::NonZeroU32;
use std::path::Path;
use std::time::Duration;

use bytes::BytesMut;

use crate::bfd::{Action, Event, Session, SessionConfig, Timer};
use crate::l2::wire::{
    classify, ArpPacket, EthernetHeader, Ignored, Ipv6Header, MacAddr, NdpPacket,
};
use crate::packet::bfd::{ControlPacket, ControlView};
use crate::packet::codec::{self, CodecParams, HEADER_LEN, MAX_EXTENDED_MESSAGE_LEN};
use crate::packet::message::Message;
use crate::packet::{open as open_msg, update};

/// A target: arbitrary bytes in, a panic on a bug.
pub type Target = fn(&[u8]);

/// The targets, by the name of their `fuzz/fuzz_targets/*.rs` file and `fuzz/corpus/` folder.
pub const TARGETS: &[(&str, Target)] = &[
    ("decode", decode),
    ("walk", walk),
    ("open", open),
    ("config", config),
    ("manifest", manifest),
    ("bfd", bfd),
    ("l2", l2),
];

/// The codec parameters a selector byte chooses: bit 0 four-octet AS, bit 1 extended messages.
fn params(selector: u8) -> CodecParams {
    let mut p = CodecParams {
        four_octet_as: selector & 1 != 0,
        ..CodecParams::default()
    };
    if selector & 2 != 0 {
        p.max_message_len = MAX_EXTENDED_MESSAGE_LEN;
    }
    p
}

/// The BGP message decoder over a byte stream: `data[0]` selects the [`CodecParams`], the rest
/// is what a peer sent. Decodes messages until one is incomplete or gives a NOTIFICATION.
pub fn decode(data: &[u8]) {
    let Some((selector, stream)) = data.split_first() else {
        return;
    };
    let params = params(*selector);
    let mut buf = BytesMut::from(stream);
    loop {
        let before = buf.clone();
        match codec::decode(&mut buf, &params) {
            Ok(Some(msg)) => {
                let consumed = before.len() - buf.len();
                check_message(&msg, before.get(..consumed).unwrap_or(&[]), &params);
            }
            Ok(None) | Err(_) => return,
        }
    }
}

/// Properties of one decoded message; `frame` is its bytes on the wire.
fn check_message(msg: &Message, frame: &[u8], params: &CodecParams) {
    match msg {
        Message::Update(u) => {
            // The decoder's prefixes are exactly the walk's (treat-as-withdraw moves, never
            // adds or drops one).
            let body = frame.get(HEADER_LEN..).unwrap_or(&[]);
            let walked = update::walk(body, params.four_octet_as).expect("decode accepted it");
            let mut from_walk: Vec<_> = walked.withdrawn.iter().chain(&walked.announced).collect();
            let mut from_decode: Vec<_> = u.withdrawn.iter().chain(&u.announced).collect();
            from_walk.sort();
            from_decode.sort();
            assert_eq!(from_walk, from_decode);
            assert_eq!(u.attributes.is_some(), !u.announced.is_empty());
        }
        _ => {
            let mut out = BytesMut::new();
            codec::encode(msg, params, &mut out);
            let again = codec::decode(&mut out, params);
            assert_eq!(again, Ok(Some(msg.clone())), "re-encoded {msg:?}");
            assert!(out.is_empty());
        }
    }
}

/// The structural UPDATE walk on its own: `data[0]` bit 0 selects 4-octet AS_PATHs, the rest is
/// an UPDATE body. The codec must accept the same body framed as an UPDATE if and only if the
/// walk does.
pub fn walk(data: &[u8]) {
    let Some((selector, body)) = data.split_first() else {
        return;
    };
    let params = params(*selector | 2);
    let walked = update::walk(body, params.four_octet_as);
    if body.len() + HEADER_LEN <= params.max_message_len && body.len() >= 4 {
        let mut frame = BytesMut::with_capacity(HEADER_LEN + body.len());
        frame.extend_from_slice(&[0xff; 16]);
        frame.extend_from_slice(
            &u16::try_from(HEADER_LEN + body.len())
                .unwrap_or(0)
                .to_be_bytes(),
        );
        frame.extend_from_slice(&[2]);
        frame.extend_from_slice(body);
        let decoded = codec::decode(&mut frame, &params);
        assert_eq!(
            decoded.is_ok(),
            walked.is_ok(),
            "walk {walked:?}, decode {decoded:?}"
        );
    }
}

/// The OPEN body decoder (capabilities included): what decodes re-encodes to itself.
pub fn open(data: &[u8]) {
    if let Ok(o) = open_msg::decode(data) {
        let mut out = Vec::new();
        open_msg::encode(&o, &mut out);
        assert_eq!(open_msg::decode(&out), Ok(o));
    }
}

/// node.toml: any UTF-8 text through the parser and validation.
pub fn config(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = crate::config::parse_with(
        Path::new("fuzz.toml"),
        text,
        &crate::config::HostInfo::default(),
    );
}

/// YAML manifests as the CLI reads them: `check --config --manifests` (with a node, so the
/// peers are checked against it too) and `migrate --from-metallb`, whose CRD and TOML output
/// must parse again.
pub fn manifest(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let node = crate::model::LocalSpec {
        asn: 64512,
        router_id: std::net::Ipv4Addr::new(192, 0, 2, 10),
        addresses: vec![std::net::Ipv4Addr::new(192, 0, 2, 10).into()],
        graceful_restart_time: 0,
    };
    let mut report = crate::watch::manifests::Report::default();
    crate::watch::manifests::check_text(
        "fuzz.yaml",
        text,
        Some(&node),
        &mut BTreeSet::new(),
        &mut report,
    );
    let mut m = crate::migrate::Migration::default();
    if crate::migrate::read("fuzz.yaml", text, &mut m).is_ok() {
        if let Ok((crds, _)) = crate::migrate::render_crds(&m) {
            let docs = crate::yaml::from_multiple::<serde_json::Value>(&crds);
            assert!(docs.is_ok(), "{docs:?} in\n{crds}");
        }
        let (toml_text, _) = crate::migrate::render_toml(&m);
        let parsed = toml_text.parse::<toml::Table>();
        assert!(parsed.is_ok(), "{parsed:?} in\n{toml_text}");
    }
}

/// BFD: the whole input as one Control packet, then as a script driving one session:
/// `[op, dt, (len, bytes...)?]...`, received packets interleaved with timer expiries and admin
/// events. What parses re-serialises to itself, and every packet the session sends parses.
pub fn bfd(data: &[u8]) {
    if let Ok(view) = ControlView::new_checked(data) {
        let p = ControlPacket::from_view(&view);
        assert_eq!(ControlPacket::parse(data), Ok(p));
    }

    let (mut session, _) =
        Session::new(SessionConfig::default(), NonZeroU32::MIN, 0, Duration::ZERO);
    let mut now = Duration::ZERO;
    let mut rest = data;
    while let [op, dt, tail @ ..] = rest {
        now += Duration::from_millis(u64::from(*dt) * 8);
        rest = tail;
        let event = match op % 8 {
            0 => Event::TimerExpired(Timer::Transmit),
            1 => Event::TimerExpired(Timer::Detect),
            2 => Event::AdminDown,
            3 => Event::AdminUp,
            4 => Event::SetConfig(SessionConfig {
                desired_min_tx: Duration::from_millis(u64::from(*dt)),
                required_min_rx: Duration::from_millis(u64::from(*op)),
                detect_mult: op >> 5,
                passive: op & 0x10 != 0,
            }),
            _ => {
                let Some((len, tail)) = rest.split_first() else {
                    break;
                };
                let n = usize::from(*len).min(tail.len());
                let (datagram, tail) = tail.split_at(n);
                rest = tail;
                match ControlPacket::parse(datagram) {
                    Ok(p) => Event::Received(p),
                    Err(_) => continue,
                }
            }
        };
        for action in session.handle(event, now) {
            if let Action::Send(p) = action {
                assert_eq!(ControlPacket::parse(&p.to_bytes()), Ok(p));
            }
        }
    }
}

/// Our MAC in the L2 target's answers.
const OURS: MacAddr = MacAddr([0x02, 0, 0, 0, 0, 0x99]);

/// The L2 classifier and every wire parser under it (Ethernet, ARP, IPv6, NDP), the input as a
/// frame and as each layer's payload. What parses emits back to bytes that parse to the same
/// value, and every answer the classifier builds parses.
pub fn l2(data: &[u8]) {
    match classify(data) {
        Ok(request) => {
            let answer = request.answer(OURS);
            let (eth, payload) = EthernetHeader::parse(&answer).expect("our answer's header");
            assert_eq!(eth.src, OURS);
            assert!(ArpPacket::parse(payload).is_ok() || NdpPacket::parse(payload).is_ok());
        }
        Err(ignored) => assert!(Ignored::LABELS.contains(&ignored.label())),
    }

    if let Ok((eth, _)) = EthernetHeader::parse(data) {
        let mut buf = [0u8; 18];
        let n = eth.emit(&mut buf).expect("18 bytes hold any header");
        assert_eq!(
            EthernetHeader::parse(buf.get(..n).unwrap_or(&[])).map(|(h, _)| h),
            Ok(eth)
        );
    }
    if let Ok(arp) = ArpPacket::parse(data) {
        assert_eq!(ArpPacket::parse(&arp.to_bytes()), Ok(arp));
        if let Some(reply) = arp.reply(OURS) {
            assert_eq!(ArpPacket::parse(&reply.to_bytes()), Ok(reply));
        }
    }
    if let Ok((ip, payload)) = Ipv6Header::parse(data) {
        assert_eq!(payload.len(), usize::from(ip.payload_len));
    }
    if let Ok(ndp) = NdpPacket::parse(data) {
        assert_eq!(NdpPacket::parse(&ndp.to_bytes()), Ok(ndp));
        if let Some(na) = ndp.answer(OURS) {
            assert_eq!(NdpPacket::parse(&na.to_bytes()), Ok(na));
        }
    }
}
