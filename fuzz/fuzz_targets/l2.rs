//! Feeds arbitrary bytes to the L2 classifier and to every wire parser under it (Ethernet,
//! ARP, IPv6, NDP), as a frame and as each layer's payload: errors are fine, panics are not.
//! What parses must emit back to bytes that parse to the same value, and every answer the
//! classifier builds must itself parse.
#![no_main]

use ferrolb::l2::wire::{
    classify, ArpPacket, EthernetHeader, Ignored, Ipv6Header, MacAddr, NdpPacket,
};
use libfuzzer_sys::fuzz_target;

const OURS: MacAddr = MacAddr([0x02, 0, 0, 0, 0, 0x99]);

fuzz_target!(|data: &[u8]| {
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
        assert_eq!(EthernetHeader::parse(&buf[..n]).map(|(h, _)| h), Ok(eth));
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
});
