#!/usr/bin/env python3
"""Write the small seed corpora in fuzz/seeds/<target>/ from the repo's fixtures and hand-built
golden messages. Run from anywhere; re-running is idempotent. Seeds are committed; what the
fuzzer grows lives in fuzz/corpus/ (ignored)."""
import os, shutil, struct, glob

here = os.path.dirname(os.path.abspath(__file__))
root = os.path.dirname(here)
seeds = os.path.join(here, "seeds")

def put(target, name, data):
    d = os.path.join(seeds, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)

def msg(mid, payload=b""):
    return struct.pack(">I", 1 + len(payload)) + bytes([mid]) + payload

torrents = sorted(glob.glob(os.path.join(root, "tests/fixtures/*.torrent")))
malformed = sorted(glob.glob(os.path.join(root, "tests/fixtures/malformed/*.torrent")))
for p in torrents + malformed:
    data = open(p, "rb").read()
    name = os.path.basename(p)
    put("metainfo", name, data)
    if p in torrents:
        put("bencode", name, data)
for p in sorted(glob.glob(os.path.join(root, "tests/fixtures/tracker/*"))):
    put("tracker_http", os.path.basename(p), open(p, "rb").read())
put("tracker_http", "failure", b"d14:failure reason11:not allowede")
put("tracker_http", "dict_peers", b"d8:intervali60e5:peersld2:ip9:127.0.0.17:peer id20:AAAAAAAAAAAAAAAAAAAA4:porti6881eeee")
put("tracker_http", "peers6", b"d8:intervali60e6:peers618:" + bytes(16) + b"\x1a\xe1e")

put("bencode", "nested", b"d1:ald1:bi-3eee1:c0:e")
put("bencode", "ints", b"li0ei-1ei9223372036854775807ee")

for i, m in enumerate([
    "magnet:?xt=urn:btih:ad42ce8109f54c99613ce38f9b4d87e70f24a165&dn=magnet1.gif&tr=http%3A%2F%2F127.0.0.1%3A6969%2Fannounce",
    "magnet:?xt=urn:btih:VVBM5AIJ6VGJSYJ4X2HZWTMH44HSJMLF&x.pe=127.0.0.1:6881&x.pe=[::1]:6881&xl=1234&ws=http://127.0.0.1/",
    "magnet:xt=urn:btih:ad42ce8109f54c99613ce38f9b4d87e70f24a165&tr.1=udp://127.0.0.1:1/announce",
]):
    put("magnet", f"m{i}", m.encode())

hs = b"\x13BitTorrent protocol" + b"\x00\x00\x00\x00\x00\x10\x00\x05" + bytes(range(20)) + b"-lt2080-abcdefghijkl"
put("handshake", "libtorrent", hs)
put("handshake", "with_tail", hs + msg(1))

stream = b"".join([
    b"\x00\x00\x00\x00", msg(0), msg(1), msg(2), msg(3), msg(4, struct.pack(">I", 7)),
    msg(5, b"\xff\xf0"), msg(6, struct.pack(">III", 1, 16384, 16384)),
    msg(7, struct.pack(">II", 1, 0) + bytes(64)), msg(8, struct.pack(">III", 1, 0, 16384)),
    msg(9, struct.pack(">H", 6881)), msg(13, struct.pack(">I", 2)), msg(14), msg(15),
    msg(16, struct.pack(">III", 0, 0, 16384)), msg(17, struct.pack(">I", 3)),
    msg(20, b"\x00d1:md11:ut_metadatai1eee"),
])
put("peer_stream", "all_messages", b"\x03\x01\x07\x00\x10\x02\x05\x30" + stream)
put("peer_stream", "huge_length", b"\x00" * 8 + b"\xff\xff\xff\xff\x07")

put("ext_handshake", "libtorrent", b"d12:complete_agoi-1e1:md11:lt_donthavei7e10:share_modei8e11:upload_onlyi3e12:ut_holepunchi4e11:ut_metadatai2e6:ut_pexi1ee13:metadata_sizei12345e1:pi6881e4:reqqi500e11:upload_onlyi1e1:v17:libtorrent 2.0.8 6:yourip4:\x7f\x00\x00\x01e")
put("ext_handshake", "minimal", b"d1:mdee")

put("ut_metadata", "request", b"d8:msg_typei0e5:piecei0ee")
put("ut_metadata", "reject", b"d8:msg_typei2e5:piecei3ee")
put("ut_metadata", "data", b"d8:msg_typei1e5:piecei0e10:total_sizei40ee" + bytes(40))
put("ut_metadata", "data_second", b"d8:msg_typei1e5:piecei1e10:total_sizei16390ee" + bytes(6))

put("ut_pex", "v4", b"d5:added12:\x7f\x00\x00\x01\x1a\xe1\x7f\x00\x00\x02\x1a\xe17:added.f2:\x10\x027:dropped6:\x7f\x00\x00\x03\x1a\xe1e")
put("ut_pex", "v6", b"d6:added618:" + bytes(15) + b"\x01\x1a\xe18:added6.f1:\x00e")

put("tracker_udp", "connect", struct.pack(">IIQ", 0, 7, 0x41727101980))
put("tracker_udp", "announce", struct.pack(">IIIII", 1, 7, 1800, 2, 3) + bytes([127, 0, 0, 1, 0x1a, 0xe1]) * 2)
put("tracker_udp", "error", struct.pack(">II", 3, 7) + b"info hash not allowed")
# BEP 5 KRPC: the BEP's examples (queries, responses, an error) and a reply with extra keys
krpc = {
    "ping_q": b"d1:ad2:id20:abcdefghij0123456789e1:q4:ping1:t2:aa1:y1:qe",
    "ping_r": b"d1:rd2:id20:mnopqrstuvwxyz123456e1:t2:aa1:y1:re",
    "find_node_q": b"d1:ad2:id20:abcdefghij01234567896:target20:mnopqrstuvwxyz123456e1:q9:find_node1:t2:aa1:y1:qe",
    "find_node_r": b"d1:rd2:id20:0123456789abcdefghij5:nodes26:" + b"N" * 20 + bytes([127, 0, 0, 1, 0x1a, 0xe1]) + b"e1:t2:aa1:y1:re",
    "get_peers_q": b"d1:ad2:id20:abcdefghij01234567899:info_hash20:mnopqrstuvwxyz123456e1:q9:get_peers1:t2:aa1:y1:qe",
    "get_peers_r": b"d1:rd2:id20:abcdefghij01234567895:token8:aoeusnth6:valuesl6:axje.u6:idhtnmee1:t2:aa1:y1:re",
    "announce_q": b"d1:ad2:id20:abcdefghij012345678912:implied_porti1e9:info_hash20:mnopqrstuvwxyz1234564:porti6881e5:token8:aoeusnthe1:q13:announce_peer1:t2:aa1:y1:qe",
    "error": b"d1:eli201e23:A Generic Error Ocurrede1:t2:aa1:y1:ee",
    "extra_keys": b"d2:ip6:\x7f\x00\x00\x01\x1a\xe11:rd2:id20:mnopqrstuvwxyz123456e1:t2:aa1:v4:LT\x01\x001:y1:re",
}
for name, data in krpc.items():
    put("krpc", name, data)

print("seeds written to", seeds)
