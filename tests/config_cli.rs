#![allow(clippy::unwrap_used)]
//! The config file from the command line (issue 16): `fast-peer config` shows each value and
//! where it came from, flags beat the file, a bad file names its line and column, unknown keys
//! are warnings, and the file's values reach the engine (a seeder listens on the configured
//! port). Every run gets its own `XDG_CONFIG_HOME`; only 127.0.0.1 is used.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Output, Stdio};

fn fast_peer(config_home: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_fast-peer"))
        .args(args)
        .env("XDG_CONFIG_HOME", config_home)
        .output()
        .unwrap()
}

fn write_config(home: &Path, text: &str) {
    std::fs::create_dir_all(home.join("fast-peer")).unwrap();
    std::fs::write(home.join("fast-peer").join("config.toml"), text).unwrap();
}

fn line<'a>(stdout: &'a str, key: &str) -> &'a str {
    stdout
        .lines()
        .find(|l| l.starts_with(&format!("{key} =")) || l.starts_with(&format!("# {key} =")))
        .unwrap_or_else(|| panic!("no {key} in {stdout}"))
}

#[test]
fn config_shows_values_and_their_sources_flags_first() {
    let home = tempfile::tempdir().unwrap();
    write_config(
        home.path(),
        "listen_port = 7000\nupload_limit = \"1M\"\nencryption = \"required\"\nfuture_key = 1\n",
    );
    let o = fast_peer(
        home.path(),
        &["config", "--upload-slots", "9", "--encryption", "prefer"],
    );
    assert!(o.status.success(), "{o:?}");
    let out = String::from_utf8(o.stdout).unwrap();
    assert!(line(&out, "listen_port").starts_with("listen_port = 7000"));
    assert!(line(&out, "listen_port").ends_with("# file"));
    assert!(line(&out, "upload_limit").starts_with("upload_limit = 1048576"));
    assert!(line(&out, "upload_slots").starts_with("upload_slots = 9"));
    assert!(line(&out, "upload_slots").ends_with("# flag"));
    assert!(
        line(&out, "encryption").contains("\"prefer\""),
        "the flag wins"
    );
    assert!(line(&out, "max_peers_per_torrent").ends_with("# default"));
    let err = String::from_utf8(o.stderr).unwrap();
    assert!(err.contains("unknown key `future_key`"), "{err}");
}

#[test]
fn a_bad_file_names_line_and_column_and_stops_the_engine_commands_only() {
    let home = tempfile::tempdir().unwrap();
    write_config(home.path(), "dht = true\nlisten_port = \"high\"\n");
    let o = fast_peer(home.path(), &["config"]);
    assert!(!o.status.success());
    let err = String::from_utf8(o.stderr).unwrap();
    assert!(
        err.contains("config.toml: line 2, column 15") && err.contains("expected u16"),
        "{err}"
    );
    // a command that reads only its arguments is not stopped by it
    let o = fast_peer(home.path(), &["decode", "i42e"]);
    assert!(o.status.success(), "{o:?}");
    // a file named with --config must exist
    let o = fast_peer(home.path(), &["--config", "/nonexistent/x.toml", "config"]);
    assert!(!o.status.success());
    assert!(
        String::from_utf8(o.stderr)
            .unwrap()
            .contains("/nonexistent/x.toml")
    );
}

#[test]
fn the_files_port_reaches_the_engine() {
    let home = tempfile::tempdir().unwrap();
    // a free port, released just before the seeder binds it
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    write_config(home.path(), &format!("listen_port = {port}\ndht = false\n"));
    let data = home.path().join("data.bin");
    std::fs::write(&data, vec![7u8; 100_000]).unwrap();
    let torrent = home.path().join("data.torrent");
    let o = fast_peer(
        home.path(),
        &[
            "create",
            data.to_str().unwrap(),
            "-o",
            torrent.to_str().unwrap(),
        ],
    );
    assert!(o.status.success(), "{o:?}");
    let mut seed = Command::new(env!("CARGO_BIN_EXE_fast-peer"))
        .args(["seed", torrent.to_str().unwrap(), "--data"])
        .arg(&data)
        .env("XDG_CONFIG_HOME", home.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = seed.stdout.take().unwrap();
    let port_line = BufReader::new(stdout)
        .lines()
        .map(|l| l.unwrap())
        .find(|l| l.starts_with("Port: "));
    let _ = seed.kill();
    let _ = seed.wait();
    assert_eq!(port_line, Some(format!("Port: {port}")));
}
