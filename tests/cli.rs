//! The command line's stdout contract for the commands that need no network, and its error
//! behaviour: errors go to stderr with a non-zero exit and nothing on stdout.
#![allow(clippy::unwrap_used)] // a test harness may unwrap: a failure is the test failing

mod common;

use common::{assert_fails_with_message, run_fp, stdout_str};

/// `fast-peer --no-dht ARGS`' stdout, which it must print with a successful exit.
fn stdout_of(args: &[&str]) -> String {
    let o = run_fp(args);
    assert!(
        o.status.success(),
        "{args:?} failed: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    stdout_str(&o)
}

/// `fast-peer --no-dht ARGS` fails with nothing on stdout and a message on stderr; the message.
fn fails(args: &[&str]) -> String {
    assert_fails_with_message(&format!("{args:?}"), &run_fp(args))
}

fn fixture(name: &str) -> String {
    format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn decode_prints_compact_json() {
    assert_eq!(stdout_of(&["decode", "5:hello"]), "\"hello\"\n");
    assert_eq!(stdout_of(&["decode", "i52e"]), "52\n");
    assert_eq!(stdout_of(&["decode", "i-52e"]), "-52\n");
    assert_eq!(stdout_of(&["decode", "l5:helloi52ee"]), "[\"hello\",52]\n");
    assert_eq!(
        stdout_of(&["decode", "d3:foo3:bar5:helloi52ee"]),
        "{\"foo\":\"bar\",\"hello\":52}\n"
    );
}

#[test]
fn decode_reads_a_whole_torrent_file() {
    let out = stdout_of(&[
        "decode",
        &format!("@{}", fixture("congratulations.gif.torrent")),
    ]);
    let v: serde_json::Value = serde_json::from_str(&out).expect("json");
    assert_eq!(v["info"]["length"], 820892);
    assert_eq!(v["info"]["name"], "congratulations.gif");
    // piece hashes are binary: printed losslessly as hex
    let pieces = v["info"]["pieces"]["__bytes_hex__"]
        .as_str()
        .expect("hex form");
    assert_eq!(pieces.len(), 4 * 40);
}

#[test]
fn decode_rejects_invalid_bencode() {
    for bad in [
        "i52",
        "5:hel",
        "x",
        "ie",
        "i-e",
        "di1ei2ee",
        "i123456789012345678901e",
    ] {
        let err = fails(&["decode", bad]);
        assert_eq!(err.lines().count(), 1, "{bad}: {err}");
    }
}

#[test]
fn decode_accepts_what_libtorrent_accepts() {
    // unsorted keys (printed in order), leading zeros, bytes after the value
    assert_eq!(
        stdout_of(&["decode", "d3:fooi1e3:bari2ee"]),
        "{\"bar\":2,\"foo\":1}\n"
    );
    assert_eq!(stdout_of(&["decode", "i05e"]), "5\n");
    assert_eq!(stdout_of(&["decode", "4:spamXYZ"]), "\"spam\"\n");
}

#[test]
fn info_matches_the_reference_output() {
    let out = stdout_of(&["info", &fixture("codercat.gif.torrent")]);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(
        lines[0],
        "Tracker URL: http://bittorrent-test-tracker.codecrafters.io/announce"
    );
    assert_eq!(lines[1], "Length: 2994120");
    assert_eq!(
        lines[2],
        "Info Hash: c77829d2a77d6516f88cd7a3de1a26abcbfab0db"
    );
    assert_eq!(lines[3], "Piece Length: 262144");
    assert_eq!(lines[4], "Piece Hashes:");
    assert_eq!(lines.len(), 5 + 12, "one line per piece");
    assert_eq!(lines[5], "3c34309faebf01e49c0f63c90b7edcc2259b6ad0");
    assert_eq!(lines[16], "3d8db9e34db63b4ba1be27930911aa37b3f997dd");
}

#[test]
fn info_rejects_malformed_torrents_with_a_message() {
    let dir = format!("{}/tests/fixtures/malformed", env!("CARGO_MANIFEST_DIR"));
    let mut n = 0;
    for entry in std::fs::read_dir(dir).expect("malformed corpus") {
        let path = entry.expect("entry").path();
        fails(&["info", path.to_str().expect("utf-8 path")]);
        n += 1;
    }
    assert!(n >= 10);
    fails(&["info", "/nonexistent/file.torrent"]);
}

#[test]
fn a_refusal_names_its_cause_once() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.torrent");
    std::fs::write(
        &bad,
        b"d4:infod6:lengthi5e4:name1:a12:piece lengthi0e6:pieces20:aaaaaaaaaaaaaaaaaaaaee",
    )
    .unwrap();
    let err = fails(&["info", bad.to_str().unwrap()]);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert_eq!(err.matches("piece length 0").count(), 1, "{err}");
    let garbage = dir.path().join("garbage.torrent");
    std::fs::write(&garbage, b"d4:infoi1e").unwrap();
    let err = fails(&["info", garbage.to_str().unwrap()]);
    assert_eq!(err.matches("unexpected end of input").count(), 1, "{err}");
}

#[test]
fn info_loads_a_torrent_with_unsorted_keys_and_trailing_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("odd.torrent");
    let info = b"d4:name5:x.bin6:lengthi20000e12:piece lengthi16384e6:pieces40:0123456789012345678901234567890123456789e";
    let mut t = b"d4:info".to_vec();
    t.extend_from_slice(info);
    t.extend_from_slice(b"8:announce27:http://127.0.0.1:1/announceeTRAILING");
    std::fs::write(&path, t).unwrap();
    let out = stdout_of(&["info", path.to_str().unwrap()]);
    let hash = fast_peer::proto::metainfo::info_hash_of(info).to_string();
    assert!(out.contains(&format!("Info Hash: {hash}\n")), "{out}");
    assert!(out.contains("Length: 20000\n"), "{out}");
}

#[test]
fn magnet_parse_prints_tracker_and_hash() {
    let m = "magnet:?xt=urn:btih:ad42ce8109f54c99613ce38f9b4d87e70f24a165&dn=magnet1.gif&tr=http%3A%2F%2F127.0.0.1%3A8080%2Fannounce";
    assert_eq!(
        stdout_of(&["magnet_parse", m]),
        "Tracker URL: http://127.0.0.1:8080/announce\nInfo Hash: ad42ce8109f54c99613ce38f9b4d87e70f24a165\n"
    );
    fails(&["magnet_parse", "magnet:?dn=nohash"]);
    fails(&["magnet_parse", "http://example.invalid/"]);
}

#[test]
fn bad_arguments_are_refused() {
    fails(&[
        "download_piece",
        "-o",
        "/tmp/x",
        &fixture("codercat.gif.torrent"),
        "12",
    ]);
    fails(&[
        "seed",
        &fixture("codercat.gif.torrent"),
        "--data",
        "/tmp/x",
        "--upload-slots",
        "0",
    ]);
    fails(&[
        "seed",
        &fixture("codercat.gif.torrent"),
        "--data",
        "/tmp/x",
        "--upload-limit",
        "fast",
    ]);
    fails(&["no-such-command"]);
}
