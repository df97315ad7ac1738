"""Galleries and search: `index`, `ship-embeddings`, `search`."""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from ..checkpoints import bundled_checkpoints
from ..errors import LightCLIPError
from ..fileio import check_writable_dir, log
from ..gallery import Gallery
from ..gallery_embeddings import shipped_embeddings_current, store_key, write_shipped_embeddings
from ..index import GalleryIndex
from ..search import SearchEngine
from ..stores import STORES, RowMeta
from .common import (
    add_gallery_flag,
    add_runtime_flag,
    add_store_flags,
    command,
    flag_ranges,
    footage_filter,
    persistent_store,
    report_skipped,
    whole,
)

# The numeric flags of these commands and what each accepts (checked before any work).
flag_ranges(
    k=whole(1),
    max_images=whole(1),
)


def cmd_index(args: argparse.Namespace) -> int:
    """Encode a gallery with a checkpoint and save its FAISS index (+ the embedding cache), or write
    the embeddings with their footage metadata into a Milvus store."""

    if persistent_store(args):
        return _index_store(args)
    if not args.out:
        raise LightCLIPError("index needs --out PATH for the FAISS index (or --store milvus --uri ...).")
    GalleryIndex.check_out(args.out, [args.gallery, args.checkpoint])
    check_writable_dir(Path(args.out).parent, "--out")  # before encoding the gallery
    gallery = Gallery.load(args.gallery, max_images=args.max_images)
    report_skipped(gallery)
    engine = SearchEngine.from_checkpoint(args.checkpoint, gallery, index_kind=args.kind, recall_target=args.recall_target,
                                          runtime=args.runtime)
    engine.index.key = f"{args.checkpoint}|{gallery.fingerprint()}"
    path = engine.index.save(args.out)
    print(json.dumps({"index": str(path), "images": len(gallery), "kind": engine.index.kind, "tuned": engine.index.tuned,
                      "skipped": len(gallery.skipped)}))
    return 0


def _index_store(args: argparse.Namespace) -> int:
    """`index --store NAME` (a persistent store, e.g. milvus): the gallery's embeddings (encoded or
    cached) and metadata into it."""

    uri = args.uri or args.out
    if not uri:
        raise LightCLIPError(f"--store {args.store} needs --uri: for milvus a file path (a local milvus-lite store, "
                             "e.g. gallery.db) or a server's http://host:19530.")
    store = STORES.get(args.store).open(uri, args.collection)  # an unreachable one is one sentence before encoding
    gallery = Gallery.load(args.gallery, max_images=args.max_images)
    report_skipped(gallery)
    engine = SearchEngine.from_checkpoint(args.checkpoint, gallery, index_kind="flat", runtime=args.runtime)
    meta = RowMeta.of(gallery) if gallery.footage is not None else None
    rows = store.write(engine.embeddings, meta, store_key(args.checkpoint, gallery))
    print(json.dumps({"store": args.store, "uri": str(uri), "collection": args.collection, "images": rows,
                      "footage": gallery.footage is not None, "skipped": len(gallery.skipped)}))
    return 0


def cmd_ship_embeddings(args: argparse.Namespace) -> int:
    """Write each checkpoint's gallery embeddings beside it (fp16), so the app's first search with any
    bundled encoder needs only a text encode; stale ones are rewritten, current ones kept."""

    gallery = Gallery.load(args.gallery)
    found = bundled_checkpoints(args.checkpoints)
    if args.backbones:
        wanted = [b.strip() for b in args.backbones.split(",") if b.strip()]
        missing = [b for b in wanted if b not in found]
        if missing:
            raise LightCLIPError(f"No checkpoint for {', '.join(missing)} under {args.checkpoints}; "
                                 f"there are: {', '.join(found) or 'none'}.")
        found = {b: found[b] for b in wanted}
    if not found:
        raise LightCLIPError(f"No checkpoints under {args.checkpoints} (each is a directory with config.json).")
    out = []
    for key, ckpt in found.items():
        if shipped_embeddings_current(ckpt, gallery):
            out.append({"backbone": key, "status": "current"})
            continue
        t0 = time.perf_counter()
        engine = SearchEngine.from_checkpoint(ckpt, gallery, shipped=False)
        path = write_shipped_embeddings(ckpt, gallery, engine.embeddings)
        out.append({"backbone": key, "status": "written", "path": str(path), "seconds": round(time.perf_counter() - t0, 1)})
        log(f"ship-embeddings: {key}: {len(gallery)} images -> {path}")
    print(json.dumps({"gallery": str(args.gallery), "images": len(gallery), "checkpoints": out}))
    return 0


def cmd_search(args: argparse.Namespace) -> int:
    """Search a gallery with a text query (or several) and print the top-K."""

    gallery = Gallery.load(args.gallery)
    report_skipped(gallery)
    where = footage_filter(args)
    if persistent_store(args):
        if not args.uri:
            raise LightCLIPError(f"--store {args.store} needs --uri (the file or server `index --store {args.store}` "
                                 "wrote to).")
        store = STORES.get(args.store).open(args.uri, args.collection, read_only=True)
        engine = SearchEngine.on_store(args.checkpoint, gallery, store, runtime=args.runtime)
    else:
        engine = SearchEngine.from_checkpoint(args.checkpoint, gallery, runtime=args.runtime)
    results = engine.search_batch(args.query, args.k, where=where)
    footage = gallery.footage  # a footage gallery: each hit is a track (its best-matching crop)
    if args.json:
        def hit(h):
            return h.__dict__ | ({"footage": footage.crop(h.path), "track": footage.track_of(h.path)} if footage else {})

        print(json.dumps([{"query": r.query, "truncated": r.truncated, "text_ms": r.text_ms, "search_ms": r.search_ms,
                           "query_pid": r.query_pid, "ap": r.ap,
                           "hits": [hit(h) for h in r.hits]} for r in results]))
        return 0
    for r in results:
        print(f"{r.query!r}  ({r.gallery_size} images, text {r.text_ms:.1f} ms, search {r.search_ms:.2f} ms)")
        for h in r.hits:
            where = f"  ({footage.label(h.path)})" if footage else ""
            print(f"  {h.rank:>3}. {h.score:.4f}  id {h.pid:<6} {h.path}{where}")
    return 0


@command("index")
def _add_index(sub) -> None:
    """The `index` command and its flags."""
    p = sub.add_parser("index", help="encode a gallery with a checkpoint and save its FAISS index")
    p.add_argument("--checkpoint", required=True)
    add_gallery_flag(p)
    p.add_argument("--out", help="index path (writes .faiss and .json)")
    add_store_flags(p)
    p.add_argument("--kind", default="auto", choices=["auto", "flat", "pq", "hnsw", "ivf"],
                   help="auto: exact search up to 20,000 images; above, PQ fast-scan + exact re-ranking tuned to "
                   "--recall-target")
    p.add_argument("--recall-target", type=float,
                   help="tune an approximate index to this recall@10 on the gallery's captions (auto: 0.97)")
    p.add_argument("--max-images", type=int)
    add_runtime_flag(p)
    p.set_defaults(func=cmd_index)


@command("ship-embeddings")
def _add_ship_embeddings(sub) -> None:
    """The `ship-embeddings` command and its flags."""
    p = sub.add_parser("ship-embeddings", help="store each checkpoint's gallery embeddings beside it (instant first search)",
                       description="Encode the gallery with every checkpoint under --checkpoints (or --backbones) and "
                       "write gallery_embeddings.safetensors beside each (fp16, keyed by the checkpoint's weights and the "
                       "gallery's content): the app and `search` then skip the gallery encode on a fresh machine. "
                       "Run it after re-bundling a checkpoint; current files are kept.")
    p.add_argument("--checkpoints", default="checkpoints")
    add_gallery_flag(p)
    p.add_argument("--backbones", help="comma-separated backbone keys (default: all)")
    p.set_defaults(func=cmd_ship_embeddings)


@command("search")
def _add_search(sub) -> None:
    """The `search` command and its flags."""
    p = sub.add_parser("search", help="search a gallery with text queries")
    p.add_argument("--checkpoint", required=True)
    add_gallery_flag(p)
    p.add_argument("--query", "-q", action="append", required=True, help="a description (repeat for several)")
    p.add_argument("-k", type=int, default=10)
    add_store_flags(p)
    p.add_argument("--camera", action="append",
                   help="footage galleries: only crops from this source (its file name or stem, e.g. cam3; repeatable)")
    p.add_argument("--from", dest="start", metavar="TIME",
                   help="footage galleries: only crops seen from this time into their video (600, 10:00 or 1:02:03)")
    p.add_argument("--to", dest="end", metavar="TIME", help="... and up to this time")
    p.add_argument("--json", action="store_true")
    add_runtime_flag(p)
    p.set_defaults(func=cmd_search)
