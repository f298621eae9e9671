#!/usr/bin/python3
"""How libtorrent 2.0 loads .torrent files: the oracle of tests/lt_differential.rs.

Reads torrent file paths, one per line, on stdin and prints one JSON object per line:
{"path", "ok": false, "error"} when `lt.torrent_info(path)` refuses the file, else
{"path", "ok": true, "v1": <hex SHA-1 info hash or null>, "name", "piece_length",
 "num_pieces", "total", "files": [{"path", "size", "pad", "exec", "hidden", "symlink"}]},
where "symlink" is the link's target (`name/...`) or null.
Run with /usr/bin/python3 (Debian's python3-libtorrent). Reads only the files it is given.
"""
import json
import sys

import libtorrent as lt


def describe(path):
    try:
        ti = lt.torrent_info(path)
    except Exception as e:  # libtorrent raises RuntimeError with its error text
        return {"path": path, "ok": False, "error": str(e)}
    fs = ti.files()
    hashes = ti.info_hashes()
    files = []
    for i in range(fs.num_files()):
        flags = fs.file_flags(i)
        files.append({
            "path": fs.file_path(i),
            "size": fs.file_size(i),
            "pad": bool(flags & lt.file_storage.flag_pad_file),
            "exec": bool(flags & lt.file_storage.flag_executable),
            "hidden": bool(flags & lt.file_storage.flag_hidden),
            "symlink": fs.symlink(i) if flags & lt.file_storage.flag_symlink else None,
        })
    return {
        "path": path,
        "ok": True,
        "v1": str(hashes.v1) if hashes.has_v1() else None,
        "name": ti.name(),
        "piece_length": ti.piece_length(),
        "num_pieces": ti.num_pieces(),
        "total": ti.total_size(),
        "files": files,
    }


def main():
    for line in sys.stdin:
        path = line.rstrip("\n")
        if path:
            print(json.dumps(describe(path)), flush=False)
    sys.stdout.flush()


if __name__ == "__main__":
    main()
