"""The page's plumbing: lossless pictures, bounded stores, request ordering, A/B differences."""

import io
import threading
import time

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from inpaint_init import InitParams, compare_results, run_init
from webapp.pictures import PictureStore, encode_png, text_card
from webapp.session import Session, SessionStore
from webapp.viewgrid import Cell, grid_html


@settings(max_examples=40, deadline=None)
@given(st.sampled_from(["L", "RGB", "RGBA"]), st.integers(1, 70), st.integers(1, 70), st.integers(0, 2**31), st.sampled_from([None, 0, 1, 6]))
def test_png_is_lossless(mode, w, h, seed, level):
    channels = {"L": 1, "RGB": 3, "RGBA": 4}[mode]
    a = np.random.default_rng(seed).integers(0, 256, (h, w, channels), dtype=np.uint8)
    image = Image.fromarray(a[..., 0] if mode == "L" else a, mode)
    back = Image.open(io.BytesIO(encode_png(image, level)))
    assert back.mode == mode and np.array_equal(np.asarray(back), np.asarray(image))


def test_png_auto_level_deflates_masks_and_stores_photos():
    mask = Image.new("L", (256, 256))
    mask.paste(255, (60, 60, 200, 200))
    photo = Image.fromarray(np.random.default_rng(0).integers(0, 256, (256, 256, 3), dtype=np.uint8))
    assert len(encode_png(mask, None)) < 256 * 256 // 20
    assert len(encode_png(photo, None)) > 256 * 256 * 3  # stored: raw size plus headers


def test_picture_store_is_bounded_and_keeps_what_is_in_use(tmp_path):
    store = PictureStore(tmp_path, level=0, max_bytes=3 * 100 * 100 * 3 + 1000)
    rng = np.random.default_rng(1)
    pictures = [Image.fromarray(rng.integers(0, 256, (100, 100, 3), dtype=np.uint8)) for _ in range(6)]
    first = store.path(pictures[0])
    for i, p in enumerate(pictures[1:]):
        store.touch(first)  # the page still shows the first picture
        store.path(p)
    files = list(tmp_path.glob("*.png"))
    assert len(files) == 3 and store.bytes <= store.max_bytes
    assert any(str(f) == first for f in files)
    assert not list(tmp_path.glob(".staging-*"))  # written under a temporary name, renamed


def test_picture_store_concurrent_writers_never_leave_a_partial_file(tmp_path):
    store = PictureStore(tmp_path, level=1)
    picture = Image.fromarray(np.random.default_rng(2).integers(0, 256, (300, 300, 3), dtype=np.uint8))
    paths, errors = [], []

    def write():
        try:
            paths.append(store.path(picture))
        except Exception as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=write) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and len(set(paths)) == 1
    assert np.array_equal(np.asarray(Image.open(paths[0])), np.asarray(picture))


def test_session_turns_run_in_arrival_order_and_only_the_newest_computes():
    session = Session()
    log = []

    def request(name, hold):
        with session.turn() as is_newest:
            time.sleep(hold)
            log.append((name, is_newest()))

    first = threading.Thread(target=request, args=("a", 0.2))
    first.start()
    time.sleep(0.05)
    others = [threading.Thread(target=request, args=(n, 0)) for n in ("b", "c")]
    for t in others:
        t.start()
        time.sleep(0.02)
    for t in [first, *others]:
        t.join()
    assert [name for name, _ in log] == ["a", "b", "c"]
    assert dict(log) == {"a": False, "b": False, "c": True}


def test_session_store_is_bounded():
    store = SessionStore(max_sessions=3, idle_s=3600)
    for key in "abcde":
        store.get(key).example = key
    assert len(store) == 3 and store.get("e").example == "e" and store.get("a").example is None


def test_grid_escapes_and_marks():
    cell = Cell("crop", 3, "Crop box", "/tmp/x y.png", "a <b> & c", 'say "why"', True)
    html = grid_html([cell], "small")
    assert 'id="view-crop"' in html and "a &lt;b&gt; &amp; c" in html and "x%20y.png" in html
    assert 'class="view changed"' in html and "--cell: 220px" in html


def test_text_card_is_a_one_line_picture():
    card = text_card("colour correction off")
    assert card.size == (360, 48) and len(np.unique(np.asarray(card))) > 2


def _pair(**b_changes):
    image = Image.fromarray(np.random.default_rng(3).integers(0, 256, (64, 64, 3), dtype=np.uint8))
    mask = Image.new("L", (64, 64))
    mask.paste(255, (16, 16, 48, 40))
    p = InitParams(width=64, height=64, seed=1, mask_blur_x=0, mask_blur_y=0)
    return run_init(image, mask, p), run_init(image, mask, p.replace(**b_changes))


def test_compare_results_counts_what_changed():
    a, b = _pair(mask_blur_x=6)
    d = compare_results(a, b)
    assert d["binary_mask"].changed == 0 and d["processed"].changed == 0 and d["crop_region"].changed == 0
    expected = int((np.asarray(a.blurred_mask) != np.asarray(b.blurred_mask)).sum())
    assert d["blurred_mask"].changed == expected > 0 and d["blurred_mask"].total == 64 * 64
    cells = int((a.nmask != b.nmask).any(dim=0).sum())
    assert d["nmask"].changed == cells and d["nmask"].unit == "latent cells"
    assert d["blurred_mask"].image is not None and d["binary_mask"].image is None


def test_compare_results_of_a_result_with_itself_is_all_zero():
    a, _ = _pair()
    assert all(d.changed == 0 for d in compare_results(a, a).values())


def test_compare_results_different_sizes_are_said():
    a, b = _pair(width=128)
    d = compare_results(a, b)
    assert "not comparable" in d["processed"].unit and d["processed"].changed == d["processed"].total
    assert "not comparable" in d["init_latent"].unit


def test_session_newest_values_win_whatever_order_requests_run_in():
    session = Session()
    assert session.newest({"blur": 14}, 100.0) == {"blur": 14}
    assert session.newest({"blur": 6}, 250.0) == {"blur": 6}
    # a request sent earlier (stamp 180) but started later brings back nothing older
    assert session.newest({"blur": 14}, 180.0) == {"blur": 6}
    assert session.newest({"blur": 9}, None) == {"blur": 9}  # unstamped (API, tests): taken as newest


def test_a_flood_of_fresh_sessions_never_evicts_an_active_visitor():
    from PIL import Image

    store = SessionStore(max_sessions=8, max_bytes=10 * 2**20, protect_s=300)
    visitor = store.get("visitor")
    visitor.image = Image.new("RGB", (512, 512))
    visitor.last = ("image", type("R", (), {})(), {})  # has computed
    for i in range(100):  # scripted requests with made-up ids
        store.get(f"fresh-{i}")
    assert store.get("visitor") is visitor and len(store) <= 8
    # by bytes: big idle-ish sessions that never computed go first, the visitor stays
    for i in range(5):
        s = store.get(f"big-{i}")
        s.image = Image.new("RGB", (1024, 1024))  # 3 MB each
    store.get("one-more")
    assert store.get("visitor") is visitor
    assert sum(store.nbytes(s) for s in store._sessions.values()) <= 10 * 2**20


def test_stale_folders_of_dead_processes_are_removed(tmp_path):
    import subprocess
    import sys

    from webapp.tempfiles import own_folder, remove_stale

    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    pid = int(dead.stdout)
    (tmp_path / f"inpaint-init-views-{pid}-abc").mkdir()
    (tmp_path / f"inpaint-init-views-{pid}-abc" / "x.png").write_bytes(b"x")
    (tmp_path / "inpaint-init-views-1-live").mkdir()  # pid 1 is alive (init)
    (tmp_path / "unrelated").mkdir()
    mine = own_folder("inpaint-init-views-", tmp_path)
    assert not (tmp_path / f"inpaint-init-views-{pid}-abc").exists()
    assert (tmp_path / "inpaint-init-views-1-live").exists() and (tmp_path / "unrelated").exists() and mine.exists()
    assert remove_stale(tmp_path, "inpaint-init-views-") == []  # its own folder is kept
