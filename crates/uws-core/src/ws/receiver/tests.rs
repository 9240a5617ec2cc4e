use super::*;

const FIN: u8 = 0x80;
const RSV1: u8 = 0x40;
const CONT: u8 = 0;
const TEXT: u8 = 1;
const BIN: u8 = 2;
const CLOSE: u8 = 8;
const PING: u8 = 9;
const PONG: u8 = 10;

/// An event with its bytes materialized, comparable across feeds.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Ev {
    Msg {
        data: Vec<u8>,
        binary: bool,
        compressed: bool,
    },
    Ping(Vec<u8>),
    Pong(Vec<u8>),
    Close(Option<u16>, Vec<u8>),
}

fn text(s: &str) -> Ev {
    Ev::Msg {
        data: s.as_bytes().to_vec(),
        binary: false,
        compressed: false,
    }
}

fn binary(b: &[u8]) -> Ev {
    Ev::Msg {
        data: b.to_vec(),
        binary: true,
        compressed: false,
    }
}

fn materialize(event: Event, input: &[u8]) -> Ev {
    match event {
        Event::Message {
            payload,
            binary,
            compressed,
        } => Ev::Msg {
            data: payload.into_vec(input),
            binary,
            compressed,
        },
        Event::Ping(p) => Ev::Ping(p.into_vec(input)),
        Event::Pong(p) => Ev::Pong(p.into_vec(input)),
        Event::Close { code, reason } => Ev::Close(code, reason.into_vec(input)),
    }
}

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next() as u8).collect()
    }
}

fn header(b0: u8, len: u64, mask: Option<[u8; 4]>) -> Vec<u8> {
    let m = if mask.is_some() { 0x80 } else { 0 };
    let mut out = vec![b0];
    if len < 126 {
        out.push(m | len as u8);
    } else if len <= 0xffff {
        out.push(m | 126);
        out.extend_from_slice(&(len as u16).to_be_bytes());
    } else {
        out.push(m | 127);
        out.extend_from_slice(&len.to_be_bytes());
    }
    if let Some(key) = mask {
        out.extend_from_slice(&key);
    }
    out
}

/// A masked client frame; the key varies with the payload so masking bugs show.
fn frame(b0: u8, payload: &[u8]) -> Vec<u8> {
    let key = [0x5a, payload.len() as u8, 0xc3, 0x17];
    let mut out = header(b0, payload.len() as u64, Some(key));
    let start = out.len();
    out.extend_from_slice(payload);
    apply_mask(&mut out[start..], key, 0);
    out
}

fn unmasked_frame(b0: u8, payload: &[u8]) -> Vec<u8> {
    let mut out = header(b0, payload.len() as u64, None);
    out.extend_from_slice(payload);
    out
}

fn close_payload(code: u16, reason: &[u8]) -> Vec<u8> {
    let mut p = code.to_be_bytes().to_vec();
    p.extend_from_slice(reason);
    p
}

fn cfg() -> ReceiverConfig {
    ReceiverConfig {
        max_payload_length: 1 << 20,
        require_mask: true,
        allow_rsv1: false,
    }
}

/// Feeds `stream` cut at `cuts` (sorted); returns the events and the error, if any.
fn run_cuts(
    cfg: ReceiverConfig,
    stream: &[u8],
    cuts: &[usize],
) -> (Vec<Ev>, Option<ProtocolError>) {
    let mut rx = Receiver::new(cfg);
    let mut out = Vec::new();
    let mut events = Vec::new();
    let mut bounds = vec![0];
    bounds.extend_from_slice(cuts);
    bounds.push(stream.len());
    for w in bounds.windows(2) {
        let mut chunk = stream[w[0]..w[1]].to_vec();
        let result = rx.feed(&mut chunk, &mut events);
        out.extend(events.drain(..).map(|e| materialize(e, &chunk)));
        if let Err(e) = result {
            return (out, Some(e));
        }
    }
    (out, None)
}

fn run(cfg: ReceiverConfig, stream: &[u8]) -> (Vec<Ev>, Option<ProtocolError>) {
    run_cuts(cfg, stream, &[])
}

fn run_err(stream: &[u8]) -> ProtocolError {
    run(cfg(), stream).1.expect("expected an error")
}

fn concat(frames: &[Vec<u8>]) -> Vec<u8> {
    frames.concat()
}

/// The same stream fed whole, byte by byte, and at random cut points gives the same result.
fn assert_split_invariant(cfg: ReceiverConfig, stream: &[u8]) -> (Vec<Ev>, Option<ProtocolError>) {
    let whole = run(cfg.clone(), stream);
    let bytewise: Vec<usize> = (1..stream.len()).collect();
    assert_eq!(
        run_cuts(cfg.clone(), stream, &bytewise),
        whole,
        "byte by byte"
    );
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    for _ in 0..200 {
        let n = rng.below(6);
        let mut cuts: Vec<usize> = (0..n).map(|_| rng.below(stream.len() + 1)).collect();
        cuts.sort_unstable();
        assert_eq!(run_cuts(cfg.clone(), stream, &cuts), whole, "cuts {cuts:?}");
    }
    whole
}

// ---------------------------------------------------------------- zero copy

#[test]
fn whole_frames_are_zero_copy_ranges() {
    let mut input = concat(&[
        frame(FIN | TEXT, b"hello"),
        frame(FIN | BIN, &[1, 2, 3]),
        frame(FIN | PING, b"p"),
    ]);
    let mut rx = Receiver::new(cfg());
    let mut events = Vec::new();
    rx.feed(&mut input, &mut events).unwrap();
    assert_eq!(
        events,
        vec![
            Event::Message {
                payload: Payload::Input(6..11),
                binary: false,
                compressed: false
            },
            Event::Message {
                payload: Payload::Input(17..20),
                binary: true,
                compressed: false
            },
            Event::Ping(Payload::Input(26..27)),
        ]
    );
    assert_eq!(events[0_usize].len(), 5);
    if let Event::Message { payload, .. } = &events[0] {
        assert_eq!(payload.as_slice(&input), b"hello");
    }
    assert_eq!(rx.buffered_bytes(), 0);
    assert!(rx.message.is_none() && rx.frame.is_none());
}

impl Event {
    fn len(&self) -> usize {
        match self {
            Event::Message { payload, .. } | Event::Ping(payload) | Event::Pong(payload) => {
                payload.len()
            }
            Event::Close { reason, .. } => reason.len(),
        }
    }
}

#[test]
fn every_length_class_round_trips() {
    let mut rng = Rng(42);
    for len in [0, 1, 125, 126, 127, 65535, 65536, 70000] {
        let data = rng.bytes(len);
        let stream = frame(FIN | BIN, &data);
        let (events, err) = run(cfg(), &stream);
        assert_eq!((events, err), (vec![binary(&data)], None), "len {len}");
        // Cut in the header, in the payload, and one byte before the end.
        let cuts = [1, stream.len() / 2, stream.len() - 1];
        assert_eq!(run_cuts(cfg(), &stream, &cuts).0, vec![binary(&data)]);
    }
}

#[test]
fn unmasked_frames_accepted_when_mask_not_required() {
    let cfg = ReceiverConfig {
        require_mask: false,
        ..cfg()
    };
    let stream = concat(&[
        unmasked_frame(FIN | TEXT, b"hi"),
        frame(FIN | BIN, b"masked"),
    ]);
    assert_eq!(
        assert_split_invariant(cfg, &stream),
        (vec![text("hi"), binary(b"masked")], None)
    );
}

// ---------------------------------------------------------------- split invariance

#[test]
fn corpus_is_split_invariant() {
    let euro = "€".as_bytes();
    let stream = concat(&[
        frame(FIN | TEXT, "héllo wörld".as_bytes()),
        frame(FIN | BIN, &[0; 300]),
        frame(FIN | TEXT, b""),
        frame(TEXT, b"frag"),
        frame(CONT, &euro[..1]),
        frame(FIN | PING, b"in between"),
        frame(CONT, &euro[1..]),
        frame(CONT, b""),
        frame(FIN | PONG, b""),
        frame(FIN | CONT, b"!"),
        frame(BIN, &[9; 200]),
        frame(FIN | CONT, &[8; 70000]),
        frame(FIN | PING, &[7; 125]),
        frame(FIN | CLOSE, &close_payload(1000, "bye ✓".as_bytes())),
    ]);
    let mut big = vec![9; 200];
    big.extend_from_slice(&[8; 70000]);
    let expected = vec![
        text("héllo wörld"),
        binary(&[0; 300]),
        text(""),
        Ev::Ping(b"in between".to_vec()),
        Ev::Pong(vec![]),
        text("frag€!"),
        binary(&big),
        Ev::Ping(vec![7; 125]),
        Ev::Close(Some(1000), "bye ✓".as_bytes().to_vec()),
    ];
    assert_eq!(assert_split_invariant(cfg(), &stream), (expected, None));
}

#[test]
fn errors_are_split_invariant() {
    let cases: Vec<(Vec<u8>, ProtocolError)> = vec![
        (
            concat(&[
                frame(FIN | TEXT, b"ok"),
                frame(FIN | TEXT, b"bad \xff utf8"),
            ]),
            ProtocolError::InvalidUtf8,
        ),
        (
            concat(&[frame(TEXT, b"a"), frame(FIN | BIN, b"b")]),
            ProtocolError::InvalidFrame(FrameError::ExpectedContinuation),
        ),
        (
            concat(&[frame(FIN | PING, b""), frame(FIN | CLOSE, &[3])]),
            ProtocolError::InvalidFrame(FrameError::InvalidClosePayload),
        ),
        (
            concat(&[frame(TEXT, b"\xe2\x82"), frame(FIN | CONT, b"")]),
            ProtocolError::InvalidUtf8,
        ),
    ];
    for (stream, err) in cases {
        let (_, got) = assert_split_invariant(cfg(), &stream);
        assert_eq!(got, Some(err));
    }
}

// ---------------------------------------------------------------- fragmentation

#[test]
fn fragmented_text_with_char_split_across_fragments() {
    let s = "a😀b".as_bytes(); // 😀 is 4 bytes at 1..5
    for cut in 1..5 {
        let stream = concat(&[frame(TEXT, &s[..1 + cut]), frame(FIN | CONT, &s[1 + cut..])]);
        assert_eq!(
            assert_split_invariant(cfg(), &stream),
            (vec![text("a😀b")], None)
        );
    }
}

#[test]
fn interleaved_ping_is_delivered_before_the_message() {
    let stream = concat(&[
        frame(TEXT, b"one "),
        frame(FIN | PING, b"ping"),
        frame(CONT, b"two "),
        frame(FIN | PONG, b"pong"),
        frame(FIN | CONT, b"three"),
    ]);
    assert_eq!(
        run(cfg(), &stream),
        (
            vec![
                Ev::Ping(b"ping".to_vec()),
                Ev::Pong(b"pong".to_vec()),
                text("one two three")
            ],
            None
        )
    );
}

#[test]
fn close_inside_fragmented_message_ends_it() {
    let stream = concat(&[
        frame(TEXT, b"unfinished"),
        frame(FIN | CLOSE, &close_payload(1001, b"")),
    ]);
    assert_eq!(
        run(cfg(), &stream),
        (vec![Ev::Close(Some(1001), vec![])], None)
    );
}

// ---------------------------------------------------------------- rejection rules

#[test]
fn rejects_unmasked_client_frames() {
    assert_eq!(
        run_err(&unmasked_frame(FIN | TEXT, b"x")),
        ProtocolError::InvalidFrame(FrameError::Unmasked)
    );
    assert_eq!(
        run_err(&unmasked_frame(FIN | PING, b"")),
        ProtocolError::InvalidFrame(FrameError::Unmasked)
    );
}

#[test]
fn rejects_rsv2_rsv3() {
    for bits in [0x20, 0x10, 0x30] {
        assert_eq!(
            run_err(&frame(FIN | bits | BIN, b"x")),
            ProtocolError::InvalidFrame(FrameError::ReservedBits)
        );
        let cfg = ReceiverConfig {
            allow_rsv1: true,
            ..cfg()
        };
        assert_eq!(
            run(cfg, &frame(FIN | RSV1 | bits | BIN, b"x")).1,
            Some(ProtocolError::InvalidFrame(FrameError::ReservedBits))
        );
    }
}

#[test]
fn rsv1_rules() {
    let rsv1 = ProtocolError::InvalidFrame(FrameError::UnexpectedRsv1);
    // Not negotiated: never.
    assert_eq!(run_err(&frame(FIN | RSV1 | TEXT, b"x")), rsv1);

    let deflate = ReceiverConfig {
        allow_rsv1: true,
        ..cfg()
    };
    // First frame of a data message: accepted, reported as compressed, UTF-8 not checked.
    let stream = concat(&[
        frame(FIN | RSV1 | TEXT, b"\xff\x00"),
        frame(RSV1 | BIN, b"ab"),
        frame(FIN | CONT, b"c"),
    ]);
    assert_eq!(
        assert_split_invariant(deflate.clone(), &stream),
        (
            vec![
                Ev::Msg {
                    data: b"\xff\x00".to_vec(),
                    binary: false,
                    compressed: true
                },
                Ev::Msg {
                    data: b"abc".to_vec(),
                    binary: true,
                    compressed: true
                },
            ],
            None
        )
    );
    // Continuation and control frames: never.
    let stream = concat(&[frame(RSV1 | TEXT, b"a"), frame(FIN | RSV1 | CONT, b"b")]);
    assert_eq!(run(deflate.clone(), &stream).1, Some(rsv1));
    for op in [PING, PONG, CLOSE] {
        assert_eq!(
            run(deflate.clone(), &frame(FIN | RSV1 | op, b"")).1,
            Some(rsv1)
        );
    }
}

#[test]
fn rejects_reserved_opcodes() {
    for op in (3..=7).chain(11..=15) {
        assert_eq!(
            run_err(&frame(FIN | op, b"")),
            ProtocolError::InvalidFrame(FrameError::ReservedOpcode(op))
        );
    }
}

#[test]
fn rejects_bad_control_frames() {
    for op in [PING, PONG, CLOSE] {
        assert_eq!(
            run_err(&frame(op, b"")),
            ProtocolError::InvalidFrame(FrameError::FragmentedControl)
        );
        assert_eq!(
            run_err(&frame(FIN | op, &[b'a'; 126])),
            ProtocolError::InvalidFrame(FrameError::ControlTooLong)
        );
    }
    // 125 is the limit, inclusive.
    assert_eq!(
        run(cfg(), &frame(FIN | PING, &[1; 125])).0,
        vec![Ev::Ping(vec![1; 125])]
    );
}

#[test]
fn rejects_continuation_without_message() {
    let err = ProtocolError::InvalidFrame(FrameError::UnexpectedContinuation);
    assert_eq!(run_err(&frame(FIN | CONT, b"x")), err);
    assert_eq!(run_err(&frame(CONT, b"x")), err);
    // A finished message does not leave one open.
    let stream = concat(&[
        frame(TEXT, b"a"),
        frame(FIN | CONT, b"b"),
        frame(FIN | CONT, b"c"),
    ]);
    assert_eq!(run(cfg(), &stream), (vec![text("ab")], Some(err)));
}

#[test]
fn rejects_new_message_inside_fragmented_one() {
    let err = ProtocolError::InvalidFrame(FrameError::ExpectedContinuation);
    for op in [TEXT, BIN, FIN | TEXT, FIN | BIN] {
        let stream = concat(&[frame(BIN, b"a"), frame(op, b"b")]);
        assert_eq!(run_err(&stream), err);
    }
}

#[test]
fn rejects_64_bit_length_with_high_bit() {
    let mut stream = header(FIN | BIN, 0, None);
    stream[1] = 0x80 | 127;
    stream.extend_from_slice(&[0x80, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4]);
    assert_eq!(
        run_err(&stream),
        ProtocolError::InvalidFrame(FrameError::InvalidLength)
    );
}

#[test]
fn accepts_non_minimal_lengths() {
    let key = [1, 2, 3, 4];
    let mut stream = vec![FIN | BIN, 0x80 | 127, 0, 0, 0, 0, 0, 0, 0, 3];
    stream.extend_from_slice(&key);
    let mut payload = b"abc".to_vec();
    apply_mask(&mut payload, key, 0);
    stream.extend_from_slice(&payload);
    assert_eq!(run(cfg(), &stream), (vec![binary(b"abc")], None));
}

// ---------------------------------------------------------------- size limit

#[test]
fn too_big_from_header_alone() {
    // A 2^62-byte frame announced, not a single payload byte sent.
    let stream = header(FIN | BIN, 1 << 62, Some([1, 2, 3, 4]));
    let mut rx = Receiver::new(cfg());
    let mut events = Vec::new();
    assert_eq!(
        rx.feed(&mut stream.clone(), &mut events),
        Err(ProtocolError::TooBig)
    );
    assert!(events.is_empty());
    assert_eq!(rx.buffered_bytes(), 0);

    // Even with no configured limit, announcing a huge frame reserves little memory.
    let unlimited = ReceiverConfig {
        max_payload_length: usize::MAX,
        ..cfg()
    };
    let mut rx = Receiver::new(unlimited);
    let mut input = stream.clone();
    input.extend_from_slice(&[0; 10]);
    assert_eq!(rx.feed(&mut input, &mut events), Ok(()));
    assert!(rx.message.as_ref().unwrap().data.capacity() <= PREALLOC_LIMIT);
    assert_eq!(rx.buffered_bytes(), 10);
}

#[test]
fn too_big_counts_all_fragments() {
    let limited = ReceiverConfig {
        max_payload_length: 10,
        ..cfg()
    };
    assert_eq!(
        run(limited.clone(), &frame(FIN | TEXT, &[b'a'; 10])).0,
        vec![text("aaaaaaaaaa")]
    );
    assert_eq!(
        run(limited.clone(), &frame(FIN | TEXT, &[b'a'; 11])).1,
        Some(ProtocolError::TooBig)
    );
    let stream = concat(&[
        frame(BIN, &[0; 6]),
        frame(FIN | PING, &[0; 100]),
        frame(CONT, &[0; 4]),
        frame(FIN | CONT, &[0; 1]),
    ]);
    assert_eq!(
        run(limited.clone(), &stream),
        (vec![Ev::Ping(vec![0; 100])], Some(ProtocolError::TooBig))
    );
    // Control frames do not count toward the limit.
    assert_eq!(run(limited, &frame(FIN | PING, &[0; 125])).1, None);
}

#[test]
fn preallocates_declared_length_once_per_frame() {
    let data = vec![3u8; 100_000];
    let stream = concat(&[
        frame(BIN, &data[..60_000]),
        frame(FIN | CONT, &data[60_000..]),
    ]);
    let mut rx = Receiver::new(cfg());
    let mut events = Vec::new();
    // First fragment cut after 10 payload bytes: the buffer already holds the whole frame.
    let mut first = stream[..14].to_vec();
    rx.feed(&mut first, &mut events).unwrap();
    assert!(rx.message.as_ref().unwrap().data.capacity() >= 60_000);
    let mut rest = stream[14..60_014].to_vec();
    rx.feed(&mut rest, &mut events).unwrap();
    // Second fragment's header: room for it reserved in one step.
    let mut next = stream[60_014..60_030].to_vec();
    rx.feed(&mut next, &mut events).unwrap();
    assert!(rx.message.as_ref().unwrap().data.capacity() >= 100_000);
    let mut tail = stream[60_030..].to_vec();
    rx.feed(&mut tail, &mut events).unwrap();
    assert_eq!(events.len(), 1);
    assert_eq!(materialize(events.pop().unwrap(), &tail), binary(&data));
}

// ---------------------------------------------------------------- UTF-8

#[test]
fn invalid_utf8_rejected() {
    assert_eq!(
        run_err(&frame(FIN | TEXT, b"\xc0\xaf")),
        ProtocolError::InvalidUtf8
    );
    // Incomplete at message end, whole frame.
    assert_eq!(
        run_err(&frame(FIN | TEXT, b"ok\xe2\x82")),
        ProtocolError::InvalidUtf8
    );
    // Binary is not checked.
    assert_eq!(run(cfg(), &frame(FIN | BIN, b"\xff")).1, None);
}

#[test]
fn utf8_fails_fast_within_a_frame() {
    let payload = b"valid text \xed\xa0\x80 and more that never arrives";
    let stream = frame(FIN | TEXT, payload);
    let header_len = stream.len() - payload.len();
    let bad_at = header_len + 12; // the 0xa0 after 0xed
    let mut rx = Receiver::new(cfg());
    let mut events = Vec::new();
    let mut first = stream[..bad_at].to_vec();
    assert_eq!(rx.feed(&mut first, &mut events), Ok(()));
    let mut second = stream[bad_at..bad_at + 1].to_vec();
    assert_eq!(
        rx.feed(&mut second, &mut events),
        Err(ProtocolError::InvalidUtf8)
    );
    // Dead from now on, whatever arrives.
    let mut rest = stream[bad_at + 1..].to_vec();
    assert_eq!(
        rx.feed(&mut rest, &mut events),
        Err(ProtocolError::InvalidUtf8)
    );
    assert!(events.is_empty());
    assert_eq!(rx.buffered_bytes(), 0);
}

#[test]
fn utf8_fails_fast_across_fragments() {
    // Autobahn 6.4.1 shape: good fragment, bad fragment, then the end never needs to come.
    let mut rx = Receiver::new(cfg());
    let mut events = Vec::new();
    let mut one = frame(TEXT, "κόσμε".as_bytes());
    assert_eq!(rx.feed(&mut one, &mut events), Ok(()));
    let mut two = frame(CONT, b"\xf4\x90\x80\x80");
    assert_eq!(
        rx.feed(&mut two, &mut events),
        Err(ProtocolError::InvalidUtf8)
    );
}

// ---------------------------------------------------------------- close

#[test]
fn close_frames() {
    assert_eq!(
        run(cfg(), &frame(FIN | CLOSE, b"")),
        (vec![Ev::Close(None, vec![])], None)
    );
    assert_eq!(
        run(cfg(), &frame(FIN | CLOSE, &close_payload(4000, b"done"))),
        (vec![Ev::Close(Some(4000), b"done".to_vec())], None)
    );
    assert_eq!(
        run_err(&frame(FIN | CLOSE, &[0x03])),
        ProtocolError::InvalidFrame(FrameError::InvalidClosePayload)
    );
    assert_eq!(
        run_err(&frame(FIN | CLOSE, &close_payload(1005, b""))),
        ProtocolError::InvalidFrame(FrameError::InvalidCloseCode(1005))
    );
    assert_eq!(
        run_err(&frame(FIN | CLOSE, &close_payload(1000, b"\xff"))),
        ProtocolError::InvalidUtf8
    );
}

#[test]
fn close_reason_range_points_into_input() {
    let mut input = frame(FIN | CLOSE, &close_payload(1000, b"why"));
    let mut rx = Receiver::new(cfg());
    let mut events = Vec::new();
    rx.feed(&mut input, &mut events).unwrap();
    assert_eq!(
        events,
        vec![Event::Close {
            code: Some(1000),
            reason: Payload::Input(8..11)
        }]
    );
}

#[test]
fn input_after_close_is_ignored() {
    let mut input = concat(&[
        frame(FIN | CLOSE, &close_payload(1000, b"")),
        frame(FIN | TEXT, b"late"),
        vec![0xff, 0xff, 0xff],
    ]);
    let mut rx = Receiver::new(cfg());
    let mut events = Vec::new();
    rx.feed(&mut input, &mut events).unwrap();
    assert_eq!(events.len(), 1);
    assert!(rx.is_closed());
    assert_eq!(rx.feed(&mut [0xff, 0xff], &mut events), Ok(()));
    assert_eq!(events.len(), 1);
}

// ---------------------------------------------------------------- error contract

#[test]
fn events_before_an_error_are_kept_and_error_is_sticky() {
    let mut input = concat(&[frame(FIN | TEXT, b"first"), frame(FIN | 3, b"")]);
    let mut rx = Receiver::new(cfg());
    let mut events = Vec::new();
    let err = rx.feed(&mut input, &mut events).unwrap_err();
    assert_eq!(
        err,
        ProtocolError::InvalidFrame(FrameError::ReservedOpcode(3))
    );
    assert_eq!(materialize(events.remove(0), &input), text("first"));
    let mut valid = frame(FIN | TEXT, b"x");
    assert_eq!(rx.feed(&mut valid, &mut events), Err(err));
    assert!(events.is_empty());
}

#[test]
fn buffered_bytes_accounting() {
    let stream = concat(&[frame(BIN, b"12345"), frame(FIN | PING, b"abc")]);
    let mut rx = Receiver::new(cfg());
    let mut events = Vec::new();
    rx.feed(&mut stream[..1].to_vec(), &mut events).unwrap();
    assert_eq!(rx.buffered_bytes(), 1);
    rx.feed(&mut stream[1..6 + 3].to_vec(), &mut events)
        .unwrap();
    assert_eq!(rx.buffered_bytes(), 3);
    rx.feed(&mut stream[9..11 + 6 + 2].to_vec(), &mut events)
        .unwrap();
    // 5 message bytes + 2 of the ping.
    assert_eq!(rx.buffered_bytes(), 7);
    rx.feed(&mut stream[19..].to_vec(), &mut events).unwrap();
    assert_eq!(rx.buffered_bytes(), 5);
    assert_eq!(events, vec![Event::Ping(Payload::Owned(b"abc".to_vec()))]);
}

#[test]
fn empty_feed_is_harmless() {
    let mut rx = Receiver::new(cfg());
    let mut events = Vec::new();
    assert_eq!(rx.feed(&mut [], &mut events), Ok(()));
    assert!(events.is_empty());
}

// ---------------------------------------------------------------- robustness

#[test]
fn random_and_mutated_input_never_panics() {
    let mut rng = Rng(7);
    let valid = concat(&[
        frame(TEXT, "ünïcödé".as_bytes()),
        frame(FIN | PING, b"x"),
        frame(FIN | CONT, b"end"),
        frame(FIN | BIN, &[1; 300]),
        frame(FIN | CLOSE, &close_payload(1000, b"")),
    ]);
    for round in 0..3000 {
        let stream = if round % 2 == 0 {
            let n = rng.below(64);
            rng.bytes(n)
        } else {
            let mut s = valid.clone();
            for _ in 0..1 + rng.below(4) {
                let i = rng.below(s.len());
                s[i] = rng.next() as u8;
            }
            s
        };
        for cfg in [
            cfg(),
            ReceiverConfig {
                max_payload_length: 8,
                require_mask: false,
                allow_rsv1: true,
            },
        ] {
            let cuts: Vec<usize> = {
                let mut c: Vec<usize> = (0..rng.below(4))
                    .map(|_| rng.below(stream.len() + 1))
                    .collect();
                c.sort_unstable();
                c
            };
            let whole = run(cfg.clone(), &stream);
            assert_eq!(run_cuts(cfg, &stream, &cuts), whole, "{stream:x?} {cuts:?}");
        }
    }
}

#[test]
fn payload_helpers() {
    let input = b"abcdef";
    let p = Payload::Input(1..4);
    assert_eq!(
        (p.as_slice(input), p.len(), p.is_empty()),
        (&b"bcd"[..], 3, false)
    );
    assert_eq!(p.into_vec(input), b"bcd");
    let o = Payload::Owned(vec![]);
    assert!(o.is_empty());
    assert_eq!(o.as_slice(input), b"");
}
