//! fast-peer's magnet commands (BEP 9 metadata exchange over BEP 10) against real,
//! independently written software: libtorrent 2.0.8 seeders and leechers
//! (`scripts/lt_peer.py`), aria2 and opentracker, all on 127.0.0.0/8, plus scripted hostile
//! peers written here. Torrents are made by libtorrent; every download is checked byte for
//! byte by hash.
//!
//! CLI contract under test (stdout is exact; errors go to stderr with a non-zero exit):
//! - `fast-peer magnet_parse MAGNET` -> `Tracker URL: <first tr>` and `Info Hash: <40 hex>`
//! - `fast-peer magnet_handshake MAGNET [--peer IP:PORT]` -> `Peer ID: <40 hex>` and
//!   `Peer Metadata Extension ID: <the ut_metadata id the peer announced>`
//! - `fast-peer magnet_info MAGNET` -> the same lines as `fast-peer info FILE.torrent`
//! - `fast-peer magnet_download_piece -o OUT MAGNET INDEX` -> OUT holds exactly that piece
//! - `fast-peer magnet_download -o OUT MAGNET` (also `--dir DIR`, `--port N`, `--peer IP:PORT`,
//!   `--max-metadata-size BYTES`)
//! - `fast-peer nhandshake SOURCE [IP:PORT] [--json]`: both sides of the negotiated handshake
//! - `fast-peer seed T --data P --port N` prints `Port: N`, then `Seeding` once it serves
//!
//! Magnets carry `tr=` (trackers) and `x.pe=IP:PORT` (peers), percent-encoded. In `x.pe` the
//! `:` stays literal (RFC 3986 allows it in a query, fast-peer's own `Magnet::to_uri` writes it
//! so, and libtorrent 2.0.8 does not percent-decode `x.pe`); fast-peer is also given `%3A`.
//!
//! Each swarm has its own loopback network (`common::net`) and ports from `free_port`, so the
//! tests run in parallel. Every process is bounded by a timeout: a hang fails the test instead
//! of blocking CI. The scripted hostile metadata peers are in `interop_magnet/hostile.rs`.
#![allow(clippy::unwrap_used)] // a test harness may unwrap: a failure is the test failing

mod common;
#[path = "interop_magnet/hostile.rs"]
mod hostile;

use std::collections::BTreeMap;
use std::fs;
use std::process::Output;
use std::sync::atomic::Ordering;

use common::*;
use hostile::{Hostility, hostile_layout, hostile_metadata_download};

// ---------------------------------------------------------------------------------------------
// Magnet links
// ---------------------------------------------------------------------------------------------

/// RFC 4648 base32 (upper case, no padding: 20 bytes -> 32 characters).
fn base32(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let mut out = String::new();
    let (mut acc, mut bits) = (0u32, 0u32);
    for &b in bytes {
        acc = (acc << 8) | u32::from(b);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(ALPHABET[((acc >> bits) & 31) as usize] as char);
        }
    }
    if bits > 0 {
        out.push(ALPHABET[((acc << (5 - bits)) & 31) as usize] as char);
    }
    out
}

/// `fast-peer magnet_download -o OUT/<name> MAGNET --port P [extra]` into the fresh folder
/// `what`, checked against the content.
fn magnet_download_and_verify(swarm: &Swarm, magnet: &str, extra: &[String], what: &str) {
    let desc = format!("fast-peer magnet_download ({what})");
    swarm.verify_download(&desc, what, |_, target| {
        magnet_download_cmd(magnet, target, extra)
    });
}

/// A swarm whose only seeder is `fast-peer seed`, registered at the swarm's opentracker.
fn fast_peer_swarm(shape: Shape) -> (Swarm, FastSeed) {
    let swarm = Swarm::new(shape, Tracker::Http);
    let seeder = FastSeed::start(&swarm.torrent, &swarm.content.save_path, &[]);
    // Serving is not enough: clients that only know the tracker need the seeder's
    // announce to have arrived.
    swarm.wait_announced(&seeder);
    (swarm, seeder)
}

// ---------------------------------------------------------------------------------------------
// 1. magnet_parse
// ---------------------------------------------------------------------------------------------

#[test]
fn magnet_parse_prints_tracker_and_info_hash() {
    let uri = "magnet:?xt=urn:btih:ad42ce8109f54c99613ce38f9b4d87e70f24a165&dn=magnet1.gif\
               &tr=http%3A%2F%2F127.0.0.1%3A8080%2Fannounce";
    let o = run_fp(&["magnet_parse", uri]);
    assert_success("fast-peer magnet_parse", &o);
    assert_eq!(
        stdout_str(&o),
        "Tracker URL: http://127.0.0.1:8080/announce\n\
         Info Hash: ad42ce8109f54c99613ce38f9b4d87e70f24a165\n"
    );

    // Built with the test's own encoder, upper-case hex in the URI.
    let hash = "0123456789abcdef0123456789abcdef01234567";
    let tr = "http://127.0.0.1:6969/announce";
    let uri = magnet(&hash.to_uppercase(), Some("a name"), &[tr.to_string()], &[]);
    let o = run_fp(&["magnet_parse", &uri]);
    assert_success("fast-peer magnet_parse (upper-case hex)", &o);
    assert_eq!(
        stdout_str(&o),
        format!("Tracker URL: {tr}\nInfo Hash: {hash}\n")
    );
}

#[test]
fn magnet_parse_base32_gives_the_same_hash() {
    let hash = "ad42ce8109f54c99613ce38f9b4d87e70f24a165";
    let raw: Vec<u8> = (0..20)
        .map(|i| u8::from_str_radix(&hash[2 * i..2 * i + 2], 16).expect("hex"))
        .collect();
    let b32 = base32(&raw);
    assert_eq!(b32.len(), 32);
    let tr = "http://127.0.0.1:8080/announce".to_string();
    let want = format!("Tracker URL: {tr}\nInfo Hash: {hash}\n");
    for form in [b32.clone(), b32.to_lowercase()] {
        let uri = magnet(&form, Some("magnet1.gif"), std::slice::from_ref(&tr), &[]);
        let o = run_fp(&["magnet_parse", &uri]);
        assert_success(&format!("fast-peer magnet_parse {uri}"), &o);
        assert_eq!(stdout_str(&o), want, "{uri}");
    }
}

#[test]
fn magnet_parse_rejects_malformed_magnets() {
    let hash = "ad42ce8109f54c99613ce38f9b4d87e70f24a165";
    let tr = "&tr=http%3A%2F%2F127.0.0.1%3A8080%2Fannounce";
    let cases = [
        ("missing xt", format!("magnet:?dn=x{tr}")),
        ("empty magnet", "magnet:?".to_string()),
        (
            "39 hex digits",
            format!("magnet:?xt=urn:btih:{}{tr}", &hash[..39]),
        ),
        ("41 hex digits", format!("magnet:?xt=urn:btih:{hash}0{tr}")),
        (
            "non-hex character",
            format!("magnet:?xt=urn:btih:{}g{tr}", &hash[..39]),
        ),
        (
            "bad base32 character",
            format!("magnet:?xt=urn:btih:{}1{tr}", "A".repeat(31)),
        ),
        (
            "http URI",
            format!("http://127.0.0.1/?xt=urn:btih:{hash}{tr}"),
        ),
        (
            "urn:btmh only",
            format!("magnet:?xt=urn:btmh:1220{}{tr}", "ab".repeat(32)),
        ),
    ];
    for (what, uri) in cases {
        let o = run_fp(&["magnet_parse", &uri]);
        assert_fails_with_message(&format!("{what}: magnet_parse {uri:?}"), &o);
    }
}

// ---------------------------------------------------------------------------------------------
// 2. magnet_handshake
// ---------------------------------------------------------------------------------------------

fn magnet_handshake_lines(o: &Output) -> (String, u8) {
    let out = stdout_str(o);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 2, "magnet_handshake stdout: {out:?}");
    let id = lines[0]
        .strip_prefix("Peer ID: ")
        .unwrap_or_else(|| panic!("first line {:?}", lines[0]));
    let ext = lines[1]
        .strip_prefix("Peer Metadata Extension ID: ")
        .unwrap_or_else(|| panic!("second line {:?}", lines[1]))
        .parse()
        .expect("extension id is a number");
    (id.to_string(), ext)
}

#[test]
fn magnet_handshake_reports_peer_id_and_ut_metadata_id() {
    let swarm = Swarm::start(multi_file(), Tracker::Http, &[GOOD; 2]);
    let mut ids = Vec::new();
    for s in &swarm.seeders {
        // What libtorrent announces, seen without fast-peer.
        let (raw_id, raw_ext) = raw_extension_handshake(&s.addr(), &swarm.meta.info_hash);
        assert_eq!(hex(&raw_id), s.peer_id_hex, "raw handshake peer id");
        let lt_id = raw_ext
            .id_of("ut_metadata")
            .expect("libtorrent announces ut_metadata");

        // --peer
        let o = run_fp(&["magnet_handshake", &swarm.magnet(&[]), "--peer", &s.addr()]);
        assert_success("fast-peer magnet_handshake --peer", &o);
        assert_eq!(
            stdout_str(&o),
            format!(
                "Peer ID: {}\nPeer Metadata Extension ID: {lt_id}\n",
                s.peer_id_hex
            ),
            "magnet_handshake with {}",
            s.addr()
        );

        // x.pe in the magnet (and no tracker), `:` percent-encoded too
        let only_pe = format!(
            "magnet:?xt=urn:btih:{}&x.pe={}",
            swarm.hash(),
            pct(&s.addr())
        );
        assert!(only_pe.contains("%3A"), "{only_pe}");
        let o = run_fp(&["magnet_handshake", &only_pe]);
        assert_success("fast-peer magnet_handshake (x.pe)", &o);
        assert_eq!(
            stdout_str(&o),
            format!(
                "Peer ID: {}\nPeer Metadata Extension ID: {lt_id}\n",
                s.peer_id_hex
            ),
            "magnet_handshake via x.pe={}",
            s.addr()
        );
        ids.push((s.peer_id_hex.clone(), lt_id));
    }

    // Only the tracker: the peer is one of the seeders.
    let o = run_fp(&["magnet_handshake", &swarm.magnet(&[])]);
    assert_success("fast-peer magnet_handshake (tracker)", &o);
    let got = magnet_handshake_lines(&o);
    assert!(ids.contains(&got), "{got:?} is none of the seeders {ids:?}");
}

// ---------------------------------------------------------------------------------------------
// 3. magnet_info
// ---------------------------------------------------------------------------------------------

fn magnet_info_equals_info(shape: Shape) {
    let swarm = Swarm::start(shape, Tracker::Http, &[GOOD; 2]);
    let info = run_fp(&["info", swarm.torrent.to_str().expect("utf8 path")]);
    assert_success("fast-peer info", &info);
    let info = stdout_str(&info);
    assert!(
        info.contains(&format!("Info Hash: {}\n", swarm.hash())),
        "info output: {info}"
    );

    let mut cmd = fast_peer();
    cmd.arg("magnet_info")
        .arg(swarm.magnet(&[]))
        .args(port_args());
    let o = run_ok("fast-peer magnet_info", &mut cmd, || swarm.seeder_logs());
    assert_eq!(stdout_str(&o), info, "magnet_info differs from info");
}

#[test]
fn magnet_info_equals_info_single_file() {
    magnet_info_equals_info(single_file());
}

#[test]
fn magnet_info_equals_info_multi_file() {
    magnet_info_equals_info(multi_file());
}

// ---------------------------------------------------------------------------------------------
// 4. magnet_download_piece
// ---------------------------------------------------------------------------------------------

#[test]
fn magnet_download_piece_writes_exactly_that_piece() {
    let swarm = Swarm::start(multi_file(), Tracker::Http, &[GOOD; 2]);
    let meta = &swarm.meta;
    let last = meta.num_pieces() - 1;
    assert!(
        meta.piece_size(last) < meta.piece_length,
        "the last piece is short"
    );
    for index in [meta.num_pieces() / 2, last] {
        let out = swarm.out_dir(&format!("piece-{index}"));
        let file = out.join(format!("piece-{index}.bin"));
        let mut cmd = fast_peer();
        cmd.arg("magnet_download_piece")
            .arg("-o")
            .arg(&file)
            .arg(swarm.magnet(&[]))
            .arg(index.to_string())
            .args(port_args());
        let what = format!("fast-peer magnet_download_piece {index}");
        run_ok(&what, &mut cmd, || swarm.seeder_logs());
        let got = fs::read(&file).expect("read piece file");
        meta.assert_piece(&swarm.content.save_path, index, &got);
        assert_no_extra_files(&out, &file);
    }
}

// ---------------------------------------------------------------------------------------------
// 5. magnet_download from libtorrent seeders
// ---------------------------------------------------------------------------------------------

#[test]
fn magnet_download_single_file_via_tracker() {
    let swarm = Swarm::start(single_file(), Tracker::Http, &[GOOD; 2]);
    magnet_download_and_verify(&swarm, &swarm.magnet(&[]), &[], "tracker");
}

#[test]
fn magnet_download_multi_file_via_tracker() {
    let swarm = Swarm::start(multi_file(), Tracker::Http, &[GOOD; 2]);
    magnet_download_and_verify(&swarm, &swarm.magnet(&[]), &[], "tracker");
}

/// No tracker anywhere: the magnet's `x.pe` peers are the only source of metadata and data.
#[test]
fn magnet_download_with_x_pe_peers_only() {
    let swarm = Swarm::start(multi_file(), Tracker::None, &[GOOD; 2]);
    let m = swarm.magnet(&swarm.seeder_addrs());
    assert!(!m.contains("tr="), "{m}");
    magnet_download_and_verify(&swarm, &m, &[], "x-pe");

    // The same with the peers given as --peer and a bare magnet.
    let bare = magnet(&swarm.hash(), None, &[], &[]);
    magnet_download_and_verify(&swarm, &bare, &swarm.peer_args(), "peer-option");
}

/// `fast-peer magnet_download --dir OUT MAGNET` (the magnet names the tracker): the torrent
/// is saved as OUT/<name>.
fn magnet_download_into_dir(swarm: &Swarm, what: &str, out_name: &str) {
    swarm.verify_download(what, out_name, |out, _| {
        let mut cmd = fast_peer();
        cmd.arg("magnet_download")
            .arg("--dir")
            .arg(out)
            .arg(swarm.magnet(&[]))
            .args(port_args());
        cmd
    });
}

/// `--dir DIR` saves as DIR/<name>, for a multi-file and a single-file torrent.
#[test]
fn magnet_download_with_dir_option() {
    let multi = Swarm::start(multi_file(), Tracker::Http, &[GOOD]);
    let layout = vec![("one magnet file.bin".to_string(), 3 * MIB + 12_345)];
    let single = Swarm::start((layout, 256 * KIB), Tracker::Http, &[GOOD]);
    let what = "fast-peer magnet_download --dir (multi-file)";
    magnet_download_into_dir(&multi, what, "out-multi");
    let what = "fast-peer magnet_download --dir (single-file)";
    magnet_download_into_dir(&single, what, "out-single");
}

// ---------------------------------------------------------------------------------------------
// 6. fast-peer -> fast-peer
// ---------------------------------------------------------------------------------------------

/// A fast-peer seeder is the only peer: the metadata and the data both come from it, found
/// through the tracker, and then through `x.pe` alone.
#[test]
fn magnet_download_from_a_fast_peer_seeder() {
    let (swarm, seeder) = fast_peer_swarm(multi_file());
    let bare_pe = magnet(
        &swarm.hash(),
        Some(&swarm.meta.name),
        &[],
        &[seeder.addr_on(&swarm.net)],
    );
    for (what, m) in [("tracker", swarm.magnet(&[])), ("x-pe", bare_pe)] {
        let desc = format!("fast-peer magnet_download ({what})");
        swarm.check_client(
            &desc,
            &format!("out-{what}"),
            || seeder.logs(),
            |_, target| magnet_download_cmd(&m, target, &[]),
        );
    }
}

// ---------------------------------------------------------------------------------------------
// 7. libtorrent and aria2 fetch a magnet from a fast-peer seeder
// ---------------------------------------------------------------------------------------------

#[test]
fn libtorrent_fetches_a_magnet_from_a_fast_peer_seeder() {
    let (swarm, seeder) = fast_peer_swarm(single_file());
    let out = swarm.work.path().join("out-lt");
    let o = lt_leech_magnet(
        &swarm.magnet(&[]),
        &out,
        &swarm.net.ip(21),
        &[seeder.addr_on(&swarm.net)],
        TEST_TIMEOUT_SECS,
    );
    assert_success_or_log("lt_peer.py leech --magnet", &o, || seeder.logs());
    assert_same_content(&swarm.content.path, &swarm.target_in(&out));
}

#[test]
fn libtorrent_fetches_a_multi_file_magnet_from_a_fast_peer_seeder_via_x_pe() {
    let (swarm, seeder) = fast_peer_swarm(multi_file());
    let out = swarm.work.path().join("out-lt");
    // No tracker: libtorrent learns the seeder from the magnet's x.pe only.
    let m = magnet(
        &swarm.hash(),
        Some(&swarm.meta.name),
        &[],
        &[seeder.addr_on(&swarm.net)],
    );
    let o = lt_leech_magnet(&m, &out, &swarm.net.ip(21), &[], TEST_TIMEOUT_SECS);
    assert_success_or_log("lt_peer.py leech --magnet (x.pe)", &o, || seeder.logs());
    assert_same_content(&swarm.content.path, &swarm.target_in(&out));
}

#[test]
fn aria2_fetches_a_magnet_from_a_fast_peer_seeder() {
    let (swarm, seeder) = fast_peer_swarm(multi_file());
    let m = format!(
        "magnet:?xt=urn:btih:{}&tr={}",
        swarm.hash(),
        swarm.trackers()[0]
    );
    swarm.check_client(
        "aria2c (magnet)",
        "out-aria2",
        || seeder.logs(),
        |out, _| aria2c_magnet(&m, out, &swarm.net.ip(21)),
    );
}

// ---------------------------------------------------------------------------------------------
// 8. Hostile metadata
// ---------------------------------------------------------------------------------------------

/// A download past two hostile peers of `mode`: the good seeder is reachable once a hostile
/// peer has served a piece, and its extension handshake reaches the client before the hostile
/// peers serve the rest.
fn survives_hostile_metadata(mode: Hostility) {
    let (sc, _) = hostile_metadata_download(
        mode,
        2,
        hostile_layout(),
        |sc| sc.served.load(Ordering::Relaxed) > 0,
        &[],
    );
    assert!(sc.served.load(Ordering::Relaxed) > 0, "{}", sc.report());
    assert!(
        sc.good_ext_delivered.load(Ordering::Relaxed),
        "{}",
        sc.report()
    );
}

/// (a) metadata_size twice the real one, garbage content.
#[test]
fn magnet_download_survives_a_peer_with_wrong_metadata_size() {
    survives_hostile_metadata(Hostility::DoubleSize);
}

/// (b) The right metadata_size, wrong bytes (fails the info-hash check).
#[test]
fn magnet_download_survives_a_peer_with_wrong_metadata_bytes() {
    survives_hostile_metadata(Hostility::WrongBytes);
}

/// (c) Peers claiming 100 MiB of metadata, over `--max-metadata-size 1048576`: never asked
/// for it; the good seeder (reachable once a hostile peer was contacted) provides it.
#[test]
fn magnet_download_ignores_a_peer_claiming_huge_metadata() {
    let (sc, _) = hostile_metadata_download(
        Hostility::Huge,
        2,
        hostile_layout(),
        |sc| sc.handshakes.load(Ordering::Relaxed) > 0,
        &["--max-metadata-size", "1048576"],
    );
    assert!(sc.handshakes.load(Ordering::Relaxed) > 0, "{}", sc.report());
    assert_eq!(
        sc.served.load(Ordering::Relaxed),
        0,
        "fast-peer asked a peer claiming 100 MiB (over --max-metadata-size) for metadata: {}",
        sc.report()
    );
}

/// (d) One liar and one honest seeder serve pieces of the same copy, so the copy fails the
/// info-hash check and the hash alone cannot say who lied. The honest seeder must not pay for
/// it: it is the only source of good metadata here, so banning it would stall the download.
/// The info dict spans four metadata pieces; the liar answers its first request at once
/// (garbage), by then holds two more requests, and answers them only after the seeder's
/// extension handshake reached the client, so the seeder serves the fourth piece.
#[test]
fn magnet_liar_cannot_get_the_honest_seeder_banned() {
    let layout: Layout = vec![("mixed/big.bin".into(), 42 * MIB + 9)];
    let (sc, stderr) = hostile_metadata_download(
        Hostility::WrongBytes,
        1,
        layout,
        |sc| sc.served.load(Ordering::Relaxed) > 0,
        &["-v"],
    );
    assert!(sc.served.load(Ordering::Relaxed) >= 3, "{}", sc.report());
    assert!(
        stderr.contains("metadata from several peers failed the info-hash check"),
        "the first copy was not a mix of the liar's and the seeder's pieces, so this test did \
         not exercise what it names; {}\n{stderr}",
        sc.report()
    );
    assert!(
        stderr.contains("sent bad metadata"),
        "the liar was not named: {stderr}"
    );
}

// ---------------------------------------------------------------------------------------------
// 9. nhandshake
// ---------------------------------------------------------------------------------------------

/// The `theirs` column of each row of `nhandshake`'s table, by row name.
fn nhandshake_rows(out: &str) -> BTreeMap<String, (String, String)> {
    let lines: Vec<&str> = out.lines().collect();
    let header = lines
        .iter()
        .position(|l| l.trim_start().starts_with("ours") && l.contains("theirs"))
        .unwrap_or_else(|| panic!("no `ours  theirs` header in:\n{out}"));
    let ours_col = lines[header].find("ours").expect("ours");
    let theirs_col = lines[header].find("theirs").expect("theirs");
    lines[header + 1..]
        .iter()
        .map(|l| {
            let name = l[..ours_col].trim().to_string();
            let ours = l.get(ours_col..theirs_col).unwrap_or("").trim().to_string();
            let theirs = l.get(theirs_col..).unwrap_or("").trim().to_string();
            (name, (ours, theirs))
        })
        .collect()
}

#[test]
fn nhandshake_shows_libtorrents_extension_dictionary() {
    let swarm = Swarm::start(multi_file(), Tracker::Http, &[GOOD]);
    let seeder = &swarm.seeders[0];
    let (_, raw_ext) = raw_extension_handshake(&seeder.addr(), &swarm.meta.info_hash);
    let lt_id = raw_ext.id_of("ut_metadata").expect("ut_metadata");
    let lt_pex = raw_ext
        .id_of("ut_pex")
        .expect("libtorrent announces ut_pex");

    // Text, from a magnet.
    let o = run_fp(&["nhandshake", &swarm.magnet(&[]), &seeder.addr()]);
    assert_success("fast-peer nhandshake (text)", &o);
    let text = stdout_str(&o);
    let rows = nhandshake_rows(&text);
    let theirs = |k: &str| -> &str {
        &rows
            .get(k)
            .unwrap_or_else(|| panic!("no row {k} in:\n{text}"))
            .1
    };
    assert_eq!(theirs("m.ut_metadata"), lt_id.to_string(), "\n{text}");
    assert_eq!(theirs("m.ut_pex"), lt_pex.to_string(), "\n{text}");
    assert!(theirs("v").contains("libtorrent"), "\n{text}");
    assert_eq!(theirs("Peer ID"), seeder.peer_id_hex, "\n{text}");
    assert_eq!(theirs("extension protocol"), "yes", "\n{text}");

    // JSON, from a magnet.
    let o = run_fp(&["nhandshake", &swarm.magnet(&[]), &seeder.addr(), "--json"]);
    assert_success("fast-peer nhandshake --json", &o);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout)
        .unwrap_or_else(|e| panic!("nhandshake --json: {e}: {}", stdout_str(&o)));
    let theirs = &v["theirs"];
    assert_eq!(
        theirs["extension_handshake"]["m"]["ut_metadata"],
        serde_json::json!(lt_id),
        "{v:#}"
    );
    assert_eq!(
        theirs["extension_handshake"]["m"]["ut_pex"],
        serde_json::json!(lt_pex),
        "{v:#}"
    );
    assert!(
        theirs["client"]
            .as_str()
            .is_some_and(|c| c.contains("libtorrent")),
        "theirs.client: {v:#}"
    );
    assert!(
        theirs["extension_handshake"]["v"]
            .as_str()
            .is_some_and(|c| c.contains("libtorrent")),
        "theirs.extension_handshake.v: {v:#}"
    );
    assert_eq!(
        theirs["peer_id"],
        serde_json::json!(seeder.peer_id_hex),
        "{v:#}"
    );
    let bits = v["ours"]["reserved_bits"]
        .as_array()
        .expect("ours.reserved_bits");
    assert!(
        bits.iter()
            .any(|b| b.as_str() == Some("extension protocol")),
        "ours.reserved_bits: {v:#}"
    );
    assert_eq!(v["info_hash"], serde_json::json!(swarm.hash()), "{v:#}");

    // From the .torrent file, the peer found through the torrent's tracker.
    let o = run_fp(&[
        "nhandshake",
        swarm.torrent.to_str().expect("utf8"),
        "--json",
    ]);
    assert_success("fast-peer nhandshake FILE.torrent --json", &o);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout)
        .unwrap_or_else(|e| panic!("nhandshake --json: {e}: {}", stdout_str(&o)));
    assert_eq!(v["peer"], serde_json::json!(seeder.addr()), "{v:#}");
    assert_eq!(
        v["theirs"]["extension_handshake"]["m"]["ut_metadata"],
        serde_json::json!(lt_id),
        "{v:#}"
    );
    // And as a table, with the peer given.
    let o = run_fp(&[
        "nhandshake",
        swarm.torrent.to_str().expect("utf8"),
        &seeder.addr(),
    ]);
    assert_success("fast-peer nhandshake FILE.torrent IP:PORT", &o);
    let text = stdout_str(&o);
    let rows = nhandshake_rows(&text);
    assert_eq!(
        rows.get("m.ut_metadata").map(|r| r.1.as_str()),
        Some(lt_id.to_string().as_str()),
        "\n{text}"
    );
}
