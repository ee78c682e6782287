#!/usr/bin/env python3
"""Generate the two Excalidraw diagrams of the KubernetesExecutor knowledge base.

Run from anywhere:

    python scripts/make_excalidraw.py            # writes kb/excalidraw/*.excalidraw
    python scripts/make_excalidraw.py --check    # only rebuild in memory and run the layout checks

The output is deterministic: element ids are derived from fixed names, seeds and
version nonces are hashes of the ids, and the "updated" timestamp is a constant.
Running the script twice gives byte-identical files.

Facts shown in the diagrams follow apache-airflow-providers-cncf-kubernetes 10.25.0 with
apache-airflow-core 3.3.2 (see kb/kubernetes_task_lifecycle.md). Only configuration
intervals are presented as guaranteed; every other duration is marked as typical and
cluster-dependent.

Text is measured with a conservative estimate (Excalidraw measures with the real font
in the browser and does not re-wrap bound text on load), and the script refuses to
write a diagram whose text would not fit its container or whose shapes, free texts or
arrow labels overlap.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT_DIR = ROOT / "kb" / "excalidraw"

UPDATED = 1767225600000  # 2026-01-01T00:00:00Z, constant so output is reproducible
FONT_FAMILY = 2  # Excalidraw "Normal" (Helvetica); easier to read than the hand-drawn font
LINE_HEIGHT = 1.25
CHAR_WIDTH = 0.6  # glyph advance estimate as a fraction of the font size (rounded up on purpose)
CONTAINER_PAD = 10  # space kept free between a container border and its text
ARROW_GAP = 8  # distance between an arrow tip and the shape it is bound to
ARROW_LABEL_FRACTION = 0.7  # Excalidraw ARROW_LABEL_WIDTH_FRACTION
ARROW_LABEL_MIN_RATIO = 11  # Excalidraw ARROW_LABEL_FONT_SIZE_TO_MIN_WIDTH_RATIO

# Excalidraw palette (stroke, background)
BLUE = ("#1971c2", "#a5d8ff")
YELLOW = ("#f08c00", "#ffec99")
VIOLET = ("#6741d9", "#d0bfff")
GREEN = ("#2f9e44", "#b2f2bb")
RED = ("#e03131", "#ffc9c9")
GRAPE = ("#9c36b5", "#eebefa")
GRAY = ("#495057", "#e9ecef")
TEAL = ("#0c8599", "#c3fae8")
CREAM = ("#e8590c", "#fff3bf")
ORANGE = ("#e8590c", "#ffd8a8")
INK = "#1e1e1e"


def _hash_int(text: str) -> int:
    return int(hashlib.sha256(text.encode("utf-8")).hexdigest()[:8], 16) % 2_000_000_000 + 1


def measure(text: str, font_size: int) -> tuple[float, float]:
    lines = text.split("\n")
    width = max(len(line) for line in lines) * font_size * CHAR_WIDTH
    height = len(lines) * font_size * LINE_HEIGHT
    return round(width, 2), round(height, 2)


# --------------------------------------------------------------------------------------------
# geometry helpers used for binding focus and for the layout checks
# --------------------------------------------------------------------------------------------


def _cross(u, v):
    return u[0] * v[1] - u[1] * v[0]


def _sub(p, q):
    return (p[0] - q[0], p[1] - q[1])


def _seg_intersection(p1, p2, q1, q2):
    """Intersection point of segments p1p2 and q1q2, or None."""
    r = _sub(p2, p1)
    s = _sub(q2, q1)
    denom = _cross(r, s)
    if abs(denom) < 1e-12:
        return None
    qp = _sub(q1, p1)
    t = _cross(qp, s) / denom
    u = _cross(qp, r) / denom
    if -1e-9 <= t <= 1 + 1e-9 and -1e-9 <= u <= 1 + 1e-9:
        return (p1[0] + t * r[0], p1[1] + t * r[1])
    return None


def focus_distance(el: dict, a, b) -> float:
    """Port of Excalidraw's determineFocusDistance for unrotated rectangles and ellipses.

    a: the arrow point next to the bound end; b: the bound end itself.
    """
    x, y, w, h = el["x"], el["y"], el["width"], el["height"]
    center = (x + w / 2, y + h / 2)
    if a == b:
        return 0.0
    sign = -math.copysign(1, _cross(_sub(a, b), _sub(center, b))) if _cross(_sub(a, b), _sub(center, b)) else 0
    direction = _sub(b, a)
    length = math.hypot(*direction)
    reach = max(w * 2, h * 2)
    far = (b[0] + direction[0] / length * reach, b[1] + direction[1] / length * reach)
    interceptees = [
        ((x - w, y - h), (x + 2 * w, y + 2 * h)),
        ((x + 2 * w, y - h), (x - w, y + 2 * h)),
    ]
    points = [p for p in (_seg_intersection(b, far, q1, q2) for q1, q2 in interceptees) if p is not None]
    points.sort(key=lambda p: (p[0] - b[0]) ** 2 + (p[1] - b[1]) ** 2)
    half_diag = math.hypot(w, h) / 2
    ratios = sorted((sign * math.dist(center, p) / half_diag for p in points), key=abs)
    return round(ratios[0], 4) if ratios else 0.0


def _rects_overlap(r1, r2, margin=0.0) -> bool:
    (ax, ay, aw, ah), (bx, by, bw, bh) = r1, r2
    return not (
        ax + aw + margin <= bx or bx + bw + margin <= ax or ay + ah + margin <= by or by + bh + margin <= ay
    )


def _segment_hits_rect(p1, p2, rect, shrink=2.0) -> bool:
    x, y, w, h = rect
    x, y, w, h = x + shrink, y + shrink, w - 2 * shrink, h - 2 * shrink
    if w <= 0 or h <= 0:
        return False

    def inside(p):
        return x <= p[0] <= x + w and y <= p[1] <= y + h

    if inside(p1) or inside(p2):
        return True
    corners = [(x, y), (x + w, y), (x + w, y + h), (x, y + h)]
    for i in range(4):
        if _seg_intersection(p1, p2, corners[i], corners[(i + 1) % 4]) is not None:
            return True
    return False


# --------------------------------------------------------------------------------------------
# scene builder
# --------------------------------------------------------------------------------------------


class Scene:
    def __init__(self, prefix: str):
        self.prefix = prefix
        self.elements: list[dict] = []
        self.by_id: dict[str, dict] = {}
        self.arrow_paths: dict[str, list[tuple[float, float]]] = {}
        self.problems: list[str] = []

    # ---- low level ------------------------------------------------------------------------
    def _base(self, el_id, el_type, x, y, w, h, *, stroke=INK, bg="transparent", fill="solid",
              stroke_width=2, stroke_style="solid", roughness=1, roundness=None) -> dict:
        if el_id in self.by_id:
            raise ValueError(f"duplicate id {el_id}")
        el = {
            "id": el_id,
            "type": el_type,
            "x": round(x, 2),
            "y": round(y, 2),
            "width": round(w, 2),
            "height": round(h, 2),
            "angle": 0,
            "strokeColor": stroke,
            "backgroundColor": bg,
            "fillStyle": fill,
            "strokeWidth": stroke_width,
            "strokeStyle": stroke_style,
            "roughness": roughness,
            "opacity": 100,
            "groupIds": [],
            "frameId": None,
            "roundness": roundness,
            "seed": _hash_int(el_id),
            "version": 1,
            "versionNonce": _hash_int(el_id + "#nonce"),
            "isDeleted": False,
            "boundElements": [],
            "updated": UPDATED,
            "link": None,
            "locked": False,
        }
        self.elements.append(el)
        self.by_id[el_id] = el
        return el

    def _text_el(self, el_id, x, y, text, font_size, *, container=None, align="center",
                 valign="middle", color=INK) -> dict:
        w, h = measure(text, font_size)
        el = self._base(el_id, "text", x, y, w, h, stroke=color, roughness=0)
        el.update(
            {
                "text": text,
                "originalText": text,
                "fontSize": font_size,
                "fontFamily": FONT_FAMILY,
                "textAlign": align,
                "verticalAlign": valign,
                "containerId": container,
                "lineHeight": LINE_HEIGHT,
                "autoResize": True,
            }
        )
        return el

    def resolve(self, name: str) -> str:
        """Accept either a full element id or a name without the scene prefix."""
        return name if name in self.by_id else f"{self.prefix}-{name}"

    # ---- public API -----------------------------------------------------------------------
    def shape(self, name, kind, x, y, w, h, text, colors, *, font=14, align="center",
              stroke_style="solid", fit="strict") -> str:
        """A rectangle/ellipse/diamond with a bound label. Returns the shape id."""
        stroke, bg = colors
        el_id = f"{self.prefix}-{name}"
        roundness = {"type": 3} if kind == "rectangle" else ({"type": 2} if kind == "diamond" else None)
        shape = self._base(el_id, kind, x, y, w, h, stroke=stroke, bg=bg, roundness=roundness,
                           stroke_style=stroke_style)
        tw, th = measure(text, font)
        if kind == "ellipse":
            avail_w, avail_h = w / math.sqrt(2) - CONTAINER_PAD, h / math.sqrt(2) - CONTAINER_PAD
        elif kind == "diamond":
            avail_w, avail_h = w / 2 - CONTAINER_PAD, h / 2 - CONTAINER_PAD
        else:
            avail_w, avail_h = w - 2 * CONTAINER_PAD, h - 2 * CONTAINER_PAD
        if tw > avail_w or th > avail_h:
            self.problems.append(
                f"text of {el_id} needs {tw:.0f}x{th:.0f} but only {avail_w:.0f}x{avail_h:.0f} is free"
            )
        tx = x + CONTAINER_PAD if (align == "left" and kind == "rectangle") else x + (w - tw) / 2
        ty = y + (h - th) / 2
        text_id = f"{el_id}-text"
        self._text_el(text_id, tx, ty, text, font, container=el_id, align=align)
        shape["boundElements"].append({"type": "text", "id": text_id})
        return el_id

    def text(self, name, x, y, text, *, font=16, color=INK, align="left") -> str:
        el_id = f"{self.prefix}-{name}"
        self._text_el(el_id, x, y, text, font, container=None, align=align, valign="top", color=color)
        return el_id

    def arrow(self, name, src, dst, points, *, label=None, font=13, color=INK, dashed=False) -> str:
        """An arrow from shape `src` to shape `dst` through absolute `points`."""
        el_id = f"{self.prefix}-{name}"
        x0, y0 = points[0]
        rel = [[round(px - x0, 2), round(py - y0, 2)] for px, py in points]
        xs = [p[0] for p in rel]
        ys = [p[1] for p in rel]
        arrow = self._base(
            el_id, "arrow", x0, y0, max(xs) - min(xs), max(ys) - min(ys),
            stroke=color, stroke_style="dashed" if dashed else "solid",
            roundness={"type": 2} if len(points) == 2 else None,
        )
        src, dst = self.resolve(src), self.resolve(dst)
        src_el, dst_el = self.by_id[src], self.by_id[dst]
        arrow.update(
            {
                "points": rel,
                "lastCommittedPoint": None,
                "startBinding": {
                    "elementId": src,
                    "focus": focus_distance(src_el, points[1], points[0]),
                    "gap": ARROW_GAP,
                },
                "endBinding": {
                    "elementId": dst,
                    "focus": focus_distance(dst_el, points[-2], points[-1]),
                    "gap": ARROW_GAP,
                },
                "startArrowhead": None,
                "endArrowhead": "arrow",
                "elbowed": False,
            }
        )
        src_el["boundElements"].append({"type": "arrow", "id": el_id})
        dst_el["boundElements"].append({"type": "arrow", "id": el_id})
        self.arrow_paths[el_id] = [tuple(p) for p in points]
        if label:
            # Excalidraw puts a label on the middle point (odd point count) or on the middle of
            # the middle segment (even point count).
            n = len(points)
            if n % 2 == 1:
                mx, my = points[n // 2]
            else:
                (ax, ay), (bx, by) = points[n // 2 - 1], points[n // 2]
                mx, my = (ax + bx) / 2, (ay + by) / 2
            length = sum(math.dist(points[i], points[i + 1]) for i in range(n - 1))
            max_w = max(ARROW_LABEL_FRACTION * length, font * ARROW_LABEL_MIN_RATIO)
            tw, th = measure(label, font)
            if tw > max_w:
                self.problems.append(f"label of {el_id} is {tw:.0f} wide, Excalidraw allows {max_w:.0f}")
            text_id = f"{el_id}-label"
            self._text_el(text_id, mx - tw / 2, my - th / 2, label, font, container=el_id, color=color)
            arrow["boundElements"].append({"type": "text", "id": text_id})
        return el_id

    # ---- checks ---------------------------------------------------------------------------
    def check_layout(self) -> list[str]:
        problems: list[str] = list(self.problems)
        boxes = []  # (id, rect, owner) for shapes, free text and arrow labels
        for el in self.elements:
            rect = (el["x"], el["y"], el["width"], el["height"])
            if el["type"] in ("rectangle", "ellipse", "diamond"):
                boxes.append((el["id"], rect, el["id"]))
            elif el["type"] == "text" and el["containerId"] is None:
                boxes.append((el["id"], rect, el["id"]))
            elif el["type"] == "text" and self.by_id[el["containerId"]]["type"] == "arrow":
                boxes.append((el["id"], rect, el["containerId"]))
        for i, (id1, r1, _) in enumerate(boxes):
            for id2, r2, _ in boxes[i + 1:]:
                if _rects_overlap(r1, r2, margin=4):
                    problems.append(f"overlap: {id1} / {id2}")
        for arrow_id, path in self.arrow_paths.items():
            arrow = self.by_id[arrow_id]
            ends = {arrow["startBinding"]["elementId"], arrow["endBinding"]["elementId"]}
            for box_id, rect, owner in boxes:
                if box_id in ends or owner == arrow_id:
                    continue
                for p1, p2 in zip(path, path[1:]):
                    if _segment_hits_rect(p1, p2, rect):
                        problems.append(f"arrow {arrow_id} crosses {box_id}")
                        break
        return problems

    def document(self) -> dict:
        return {
            "type": "excalidraw",
            "version": 2,
            "source": "https://excalidraw.com",
            "elements": self.elements,
            "appState": {"viewBackgroundColor": "#ffffff", "gridSize": None},
            "files": {},
        }


# --------------------------------------------------------------------------------------------
# helpers for common arrow shapes
# --------------------------------------------------------------------------------------------


def _box(scene: Scene, el_id: str):
    el = scene.by_id[scene.resolve(el_id)]
    return el["x"], el["y"], el["width"], el["height"]


def right_mid(scene, el_id, y=None):
    x, top, w, h = _box(scene, el_id)
    return (x + w + ARROW_GAP, top + h / 2 if y is None else y)


def left_mid(scene, el_id, y=None):
    x, top, w, h = _box(scene, el_id)
    return (x - ARROW_GAP, top + h / 2 if y is None else y)


def top_mid(scene, el_id, x=None):
    left, y, w, h = _box(scene, el_id)
    return (left + w / 2 if x is None else x, y - ARROW_GAP)


def bottom_mid(scene, el_id, x=None):
    left, y, w, h = _box(scene, el_id)
    return (left + w / 2 if x is None else x, y + h + ARROW_GAP)


# --------------------------------------------------------------------------------------------
# Diagram 1: complete flow of one task
# --------------------------------------------------------------------------------------------


def build_complete_flow() -> Scene:
    s = Scene("flow")
    W = 360  # column width
    COL = [40, 660, 1280, 1900]  # scheduler, executor, queues, scheduler-side k8s objects
    API_X, API_W = 2520, 260
    C5_X, C5_W = 3040, 380
    ROW = [230, 530, 830, 1130]  # rows A..D (top of boxes)
    H = 170

    s.text(
        "title", 40, 30,
        "Airflow KubernetesExecutor: complete flow of one task try",
        font=32,
    )
    s.text(
        "subtitle", 40, 82,
        "Airflow 3.x with apache-airflow-providers-cncf-kubernetes 10.25.0. Colours show where code runs. "
        "Top row: launch path. Rows 2-4: the state path back to the scheduler.\n"
        "Only watcher_queue crosses a process boundary; task_queue and result_queue are Manager() "
        "JoinableQueue proxies used inside the scheduler process.",
        font=16,
    )

    # --- tall boxes -------------------------------------------------------------------------
    s.shape(
        "scheduler", "rectangle", COL[0], ROW[0], W, ROW[3] + H - ROW[0],
        "SCHEDULER MAIN PROCESS\n"
        "SchedulerJobRunner\n"
        "\n"
        "TI set to QUEUED in the metadata DB\n"
        "executor.queue_workload(ExecuteTask)\n"
        "\n"
        "every loop: executor.heartbeat()\n"
        "open_slots = parallelism - len(running)\n"
        "trigger_tasks -> _process_workloads\n"
        "then executor.sync()\n"
        "\n"
        "process_executor_events()\n"
        "reads event_buffer; terminal state\n"
        "while TI still QUEUED/RUNNING ->\n"
        "'state mismatch' failure handling\n"
        "\n"
        "timers:\n"
        "_handle_tasks_stuck_in_queued\n"
        "every 120 s, TI queued > 600 s\n"
        "-> executor.revoke_task()\n"
        "adopt_or_reset_orphaned_tasks\n"
        "every 300 s",
        BLUE, font=14,
    )
    s.shape(
        "apiserver", "rectangle", API_X, ROW[0], API_W, ROW[2] + H - ROW[0],
        "KUBERNETES\nAPI SERVER\n\n"
        "pods: create, watch,\n"
        "patch, delete\n\n"
        "scheduler RBAC needs\n"
        "pods create, get, list,\n"
        "watch, patch, delete\n"
        "and pods/log get",
        GREEN, font=14,
    )

    # --- row A: launch path -----------------------------------------------------------------
    s.shape(
        "executor", "rectangle", COL[1], ROW[0], W, H,
        "KubernetesExecutor (scheduler process)\n"
        "_process_workloads: key -> running\n"
        "execute_async(key, command, ...):\n"
        "PodGenerator.from_obj(executor_config)\n"
        "event_buffer[key] = (QUEUED, job id)\n"
        "no Kubernetes API call yet",
        BLUE, font=14,
    )
    s.shape(
        "task_queue", "ellipse", COL[2], ROW[0] - 5, W, H + 10,
        "task_queue\nManager().JoinableQueue\nproxy (10.15.0+)\nKubernetesJob items",
        YELLOW, font=14,
    )
    s.shape(
        "run_next", "rectangle", COL[3], ROW[0], W, H,
        "AirflowKubernetesScheduler\n"
        "(plain object in scheduler process)\n"
        "run_next(job) -> _build_pod_request\n"
        "PodGenerator.construct_pod merges:\n"
        "template, executor pod, pod_override\n"
        "(later wins), then pod_mutation_hook",
        BLUE, font=14,
    )
    s.shape(
        "worker", "rectangle", C5_X, ROW[0], C5_W, H,
        "WORKER POD (one per task try)\n"
        "container 'base' runs\n"
        "python -m airflow.sdk.execution_time\n"
        "  .execute_workload --json-string ...\n"
        "env AIRFLOW_IS_K8S_EXECUTOR_POD=True\n"
        "Airflow 2.x: airflow tasks run ...",
        RED, font=14,
    )

    # --- row B: watch path ------------------------------------------------------------------
    s.shape(
        "kube_sync", "rectangle", COL[1], ROW[1], W, H,
        "AirflowKubernetesScheduler.sync()\n"
        "_health_check_kube_watchers:\n"
        "dead watcher restarted from rv '0'\n"
        "drain watcher_queue ->\n"
        "process_watcher_task (builds key\n"
        "from pod annotations)",
        BLUE, font=14,
    )
    s.shape(
        "watcher_queue", "ellipse", COL[2], ROW[1] - 5, W, H + 10,
        "watcher_queue\nManager().Queue\nonly cross-process hop\nKubernetesWatch items",
        YELLOW, font=14,
    )
    s.shape(
        "watcher", "rectangle", COL[3], ROW[1], W, H,
        "KubernetesJobWatcher\n"
        "multiprocessing.Process per namespace\n"
        "selector: airflow-worker=<job id>,\n"
        "airflow_executor_done!=True\n"
        "process_status maps phase -> state\n"
        "resourceVersion: process memory only",
        VIOLET, font=14,
    )
    s.shape(
        "execution_api", "rectangle", C5_X, ROW[1], C5_W, H,
        "EXECUTION API (Airflow 3)\n"
        "worker reports running, success,\n"
        "failed and heartbeats using the\n"
        "JWT in the workload (lifetime =\n"
        "task_queued_timeout) is swapped on\n"
        "/run for a short-lived execution\n"
        "token used by the later calls\n"
        "Airflow 2.x: worker wrote the DB itself",
        GRAPE, font=14,
    )

    # --- row C: state sync + cleanup ---------------------------------------------------------
    s.shape(
        "result_queue", "ellipse", COL[1], ROW[2] - 5, W, H + 10,
        "result_queue\nManager().JoinableQueue\nproxy (10.15.0+)\nKubernetesResults items",
        YELLOW, font=14,
    )
    s.shape(
        "change_state", "rectangle", COL[2], ROW[2], W, H,
        "KubernetesExecutor.sync()\n"
        "_change_state(result)\n"
        "Succeeded (state None): read TI state\n"
        "from the DB; ADOPTED: drop the key\n"
        "failed before TI RUNNING: requeue on\n"
        "task_queue (pod_launch_failure_retries)",
        BLUE, font=14,
    )
    s.shape(
        "cleanup", "rectangle", COL[3], ROW[2], W, H,
        "POD CLEANUP (inside _change_state)\n"
        "delete_worker_pods=True: delete_pod\n"
        "but FAILED pods are left untouched\n"
        "(delete_worker_pods_on_failure=False)\n"
        "delete_worker_pods=False:\n"
        "patch_pod_executor_done (label)",
        BLUE, font=14,
    )
    s.shape(
        "metadata_db", "rectangle", C5_X, ROW[2], C5_W, H,
        "METADATA DB (not SQLite)\n"
        "task_instance: state, try_number,\n"
        "queued_by_job_id, queued_dttm\n"
        "read by the scheduler and by\n"
        "_change_state for Succeeded pods",
        GRAY, font=14,
    )

    # --- row D ------------------------------------------------------------------------------
    s.shape(
        "event_buffer", "rectangle", COL[2], ROW[3], W, H,
        "event_buffer (in-memory dict)\n"
        "event_buffer[key] = (state, info)\n"
        "FAILED info: 'Pod failed because\n"
        "of <reason>'",
        BLUE, font=14,
    )
    # legend in the free space of row D
    legend_y = ROW[3] + 10
    s.text("legend-title", COL[3], legend_y - 4, "Where it runs", font=18)
    legend = [
        ("legend-sched", "scheduler main process", BLUE),
        ("legend-manager", "Manager() server process (queue proxy)", YELLOW),
        ("legend-watcher", "watcher child process", VIOLET),
        ("legend-k8s", "Kubernetes control plane", GREEN),
        ("legend-worker", "worker pod", RED),
        ("legend-api", "Airflow API server (Execution API)", GRAPE),
        ("legend-db", "metadata database", GRAY),
    ]
    for i, (name, label, colors) in enumerate(legend):
        col_x = COL[3] + (i % 2) * 430
        row_y = legend_y + 34 + (i // 2) * 44
        s.shape(name, "rectangle", col_x, row_y, 400, 40, label, colors, font=14)

    # --- arrows -----------------------------------------------------------------------------
    row_mid = [r + H / 2 for r in ROW]
    s.arrow("a-queue-workload", "scheduler", "executor",
            [right_mid(s, "scheduler", row_mid[0]), left_mid(s, "executor")],
            label="queue_workload\ntrigger_tasks")
    s.arrow("a-execute-async", "executor", "task_queue",
            [right_mid(s, "executor"), left_mid(s, "task_queue")],
            label="execute_async\nput KubernetesJob")
    s.arrow("a-dequeue", "task_queue", "run_next",
            [right_mid(s, "task_queue"), left_mid(s, "run_next")],
            label="sync(): get at most\nworker_pods_creation\n_batch_size jobs")
    s.arrow("a-create", "run_next", "apiserver",
            [right_mid(s, "run_next"), left_mid(s, "apiserver", row_mid[0])],
            label="run_pod_async\ncreate_namespaced_pod")
    s.arrow("a-start-pod", "apiserver", "worker",
            [right_mid(s, "apiserver", row_mid[0]), left_mid(s, "worker")],
            label="kube-scheduler binds,\nkubelet pulls, starts")
    s.arrow("a-report", "worker", "execution_api",
            [bottom_mid(s, "worker"), top_mid(s, "execution_api")],
            label="execute_workload\nreports state")
    s.arrow("a-db-write", "execution_api", "metadata_db",
            [bottom_mid(s, "execution_api"), top_mid(s, "metadata_db")],
            label="writes TI state")
    s.arrow("a-watch", "apiserver", "watcher",
            [left_mid(s, "apiserver", row_mid[1]), right_mid(s, "watcher")],
            label="watch events\nlist_namespaced_pod\n(Watch.stream)")
    s.arrow("a-watch-put", "watcher", "watcher_queue",
            [left_mid(s, "watcher"), right_mid(s, "watcher_queue")],
            label="process_status\nput KubernetesWatch")
    s.arrow("a-watch-get", "watcher_queue", "kube_sync",
            [left_mid(s, "watcher_queue"), right_mid(s, "kube_sync")],
            label="get + task_done\n(in scheduler)")
    s.arrow("a-result-put", "kube_sync", "result_queue",
            [bottom_mid(s, "kube_sync"), top_mid(s, "result_queue")],
            label="put\nKubernetesResults")
    s.arrow("a-change-state", "result_queue", "change_state",
            [right_mid(s, "result_queue"), left_mid(s, "change_state")],
            label="get_nowait\n_change_state")
    s.arrow("a-cleanup", "change_state", "cleanup",
            [right_mid(s, "change_state"), left_mid(s, "cleanup")],
            label="delete or label\nthe finished pod")
    s.arrow("a-delete", "cleanup", "apiserver",
            [right_mid(s, "cleanup"), left_mid(s, "apiserver", row_mid[2])],
            label="delete_namespaced_pod\nor patch a label")
    s.arrow("a-event-buffer", "change_state", "event_buffer",
            [bottom_mid(s, "change_state"), top_mid(s, "event_buffer")],
            label="write\n(state, info)")
    s.arrow("a-executor-events", "event_buffer", "scheduler",
            [left_mid(s, "event_buffer"), right_mid(s, "scheduler", row_mid[3])],
            label="get_event_buffer\nprocess_executor_events")

    # --- timeline band ------------------------------------------------------------------------
    band_top = ROW[3] + H + 130
    s.text(
        "timeline-title", 40, band_top,
        "Timeline of one task try (left to right)", font=26,
    )
    s.text(
        "timeline-key", 40, band_top + 42,
        "GUARANTEED = enforced by code or a config value (defaults shown). "
        "TYPICAL = observed behaviour that depends on the cluster, image and load; "
        "no fixed number is promised by Airflow or Kubernetes.",
        font=16,
    )
    phases = [
        ("p1", "Phases 1-2: QUEUED in the executor\nTI QUEUED in DB, key in running",
         "GUARANTEED\n"
         "Same loop: the heartbeat() after\n"
         "_do_scheduling hands it on.\n"
         "Slots: [core] parallelism (32) minus\n"
         "len(running); not-yet-running pods\n"
         "still hold a slot.\n"
         "Pod creates per loop:\n"
         "worker_pods_creation_batch_size = 1.",
         "TYPICAL\n"
         "Loop frequency depends on scheduler\n"
         "load. With batch size 1 a burst of\n"
         "tasks gets one pod per loop."),
        ("p2", "Phases 3-4: pod create call\nrun_next -> create_namespaced_pod",
         "GUARANTEED\n"
         "task_publish_max_retries = 0: quota\n"
         "403, 409, 429 or 5xx is reported as\n"
         "FAILED at once. Non-zero: requeued\n"
         "on later loops; a 429 or Retry-After\n"
         "pauses pod creation for that time.",
         "TYPICAL\n"
         "One API round trip; slow only when\n"
         "the API server is overloaded or\n"
         "admission webhooks are slow."),
        ("p3", "Phase 5: pod Pending\nscheduling, image pull, init containers",
         "GUARANTEED\n"
         "No timeout on the pod itself.\n"
         "[scheduler] task_queued_timeout =\n"
         "600 s, checked every 120 s ->\n"
         "revoke_task; back to SCHEDULED up to\n"
         "2 times, then FAILED. A fatal waiting\n"
         "reason (ErrImagePull...) ends the\n"
         "attempt early (requeued once).",
         "TYPICAL\n"
         "Seconds with a cached image on a\n"
         "node with room; minutes with node\n"
         "autoscaling or large images.\n"
         "No fixed start-up figure exists."),
        ("p4", "Phase 6: Running\nexecute_workload in 'base'",
         "GUARANTEED\n"
         "Bounded only by the task's own\n"
         "execution_timeout, if set.\n"
         "Lost heartbeats are detected after\n"
         "task_instance_heartbeat_timeout\n"
         "= 300 s.",
         "TYPICAL\n"
         "The task's own runtime, plus\n"
         "interpreter start and DAG file\n"
         "loading inside the pod."),
        ("p5", "Phase 7: terminal pod event\nwatcher -> _change_state",
         "GUARANTEED\n"
         "Applied in the next executor sync().\n"
         "Watch defaults: client read timeout\n"
         "30 s, server timeout_seconds 3600 s;\n"
         "the watcher then re-watches. A dead\n"
         "watcher restarts from rv '0'.",
         "TYPICAL\n"
         "Watch events usually arrive soon\n"
         "after the phase change; a loaded\n"
         "API server adds delay."),
        ("p6", "Phase 8: cleanup, adoption\ndelete or label the pod",
         "GUARANTEED\n"
         "Pod Succeeded (in Airflow 3 also a\n"
         "failed task): deleted. Pod Failed\n"
         "(OOM, eviction, crash): kept\n"
         "(..._on_failure = False).\n"
         "Orphan adoption every\n"
         "orphaned_tasks_check_interval = 300 s.\n"
         "Shutdown: watchers get 20 s in total.",
         "TYPICAL\n"
         "Deleting an exited pod is usually\n"
         "quick; the grace period (pod spec or\n"
         "delete_option_kwargs) only matters\n"
         "for containers still running."),
    ]
    total_w = C5_X + C5_W - 40
    gap = 84
    pw = (total_w - gap * (len(phases) - 1)) / len(phases)
    py = band_top + 100
    prev = None
    for i, (name, title, guaranteed, typical) in enumerate(phases):
        px = 40 + i * (pw + gap)
        s.shape(f"phase-{name}", "rectangle", px, py, pw, 90, title, GRAY, font=16)
        s.shape(f"phase-{name}-guaranteed", "rectangle", px, py + 120, pw, 200, guaranteed, TEAL,
                font=15, align="left")
        s.shape(f"phase-{name}-typical", "rectangle", px, py + 350, pw, 130, typical, CREAM,
                font=15, align="left", stroke_style="dashed")
        if prev:
            s.arrow(f"a-phase-{prev}-{name}", f"phase-{prev}", f"phase-{name}",
                    [right_mid(s, f"phase-{prev}"), left_mid(s, f"phase-{name}")])
        prev = name
    return s


# --------------------------------------------------------------------------------------------
# Diagram 2: pod state machine
# --------------------------------------------------------------------------------------------


def build_pod_lifecycle() -> Scene:
    s = Scene("pod")
    W = 440
    COL = [40, 640, 1240, 1840]
    ROW = [210, 650, 1090]
    H = 250

    s.text("title", 40, 30, "Worker pod lifecycle under the KubernetesExecutor", font=32)
    s.text(
        "subtitle", 40, 82,
        "Each box: the pod situation, what KubernetesJobWatcher.process_status puts on watcher_queue, "
        "and what the task instance (TI) ends up as after _change_state.\n"
        "Provider 10.25.0 defaults. The watcher never emits RUNNING: the worker reports RUNNING itself. "
        "A pod labelled airflow_pod_revoked is ignored entirely.",
        font=16,
    )

    # row 1: branches above the main path
    s.shape(
        "deleted-pending", "rectangle", COL[0], ROW[0], W, H,
        "DELETED WHILE PENDING\n"
        "DELETED event with deletionTimestamp\n"
        "watcher emits: nothing\n"
        "(logs 'Failed to start pod'; provider 10.2.0+)\n"
        "TI: stays QUEUED until task_queued_timeout\n"
        "(600 s) -> revoke_task -> SCHEDULED\n"
        "(at most 2 times), then FAILED\n"
        "before provider 10.2.0: FAILED at once",
        ORANGE, font=14, align="left",
    )
    s.shape(
        "backoff", "rectangle", COL[1], ROW[0], W, H,
        "PENDING + ImagePullBackOff\n"
        "not fatal by default: it is not in\n"
        "worker_pod_pending_fatal_container_\n"
        "state_reasons\n"
        "watcher emits: nothing\n"
        "TI: stays QUEUED until task_queued_timeout\n"
        "(600 s) -> revoke_task -> SCHEDULED\n"
        "(at most 2 times), then FAILED\n"
        "(an earlier ErrImagePull event is fatal)",
        ORANGE, font=14, align="left",
    )
    s.shape(
        "unknown", "rectangle", COL[2], ROW[0], W, H,
        "UNKNOWN (or any other phase)\n"
        "node unreachable; NotReady pods are\n"
        "usually evicted after 300 s (DELETED)\n"
        "watcher emits: nothing\n"
        "(logs 'Invalid state')\n"
        "TI: unchanged by the executor\n"
        "RUNNING TI: heartbeat timeout (300 s)\n"
        "QUEUED TI: task_queued_timeout (600 s)",
        GRAY, font=14, align="left",
    )
    s.shape(
        "adopted", "rectangle", COL[3], ROW[0], W, H,
        "RELABELLED BY ANOTHER SCHEDULER\n"
        "DELETED event without deletionTimestamp\n"
        "(airflow-worker label changed by adoption)\n"
        "watcher emits: ADOPTED\n"
        "_change_state drops the key from running,\n"
        "writes no event_buffer entry\n"
        "TI: unchanged; the new scheduler's\n"
        "watcher now tracks the pod",
        VIOLET, font=14, align="left",
    )

    # row 2: main path
    s.shape(
        "created", "rectangle", COL[0], ROW[1], W, H,
        "POD CREATED\n"
        "run_next -> run_pod_async ->\n"
        "create_namespaced_pod\n"
        "TI: QUEUED\n"
        "API error here: reported FAILED at once\n"
        "(default task_publish_max_retries = 0)\n"
        "(quota 403 / 409 / 429 / 5xx retried only\n"
        "if that option is non-zero)",
        BLUE, font=14, align="left",
    )
    s.shape(
        "pending", "rectangle", COL[1], ROW[1], W, H,
        "PENDING\n"
        "scheduling, image pull, init containers\n"
        "watcher emits: nothing (only logged)\n"
        "TI: stays QUEUED\n"
        "guard: [scheduler] task_queued_timeout\n"
        "600 s, checked every 120 s\n"
        "(worker_pods_pending_timeout was\n"
        "removed in Airflow 2.6.0)",
        YELLOW, font=14, align="left",
    )
    s.shape(
        "running", "rectangle", COL[2], ROW[1], W, H,
        "RUNNING\n"
        "container 'base' runs execute_workload\n"
        "watcher emits: nothing (only logged)\n"
        "TI: RUNNING, set by the worker through\n"
        "the Execution API (Airflow 3)\n"
        "stops heartbeating: detected after\n"
        "task_instance_heartbeat_timeout 300 s",
        BLUE, font=14, align="left",
    )
    s.shape(
        "succeeded", "rectangle", COL[3], ROW[1], W, H,
        "SUCCEEDED\n"
        "all containers exited 0\n"
        "watcher emits: state None\n"
        "_change_state reads the TI state from\n"
        "the DB, set by the worker: SUCCESS, or\n"
        "FAILED / UP_FOR_RETRY when task code\n"
        "failed (Airflow 3 worker exits 0)\n"
        "pod: deleted (delete_worker_pods=True)\n"
        "or labelled airflow_executor_done=True",
        GREEN, font=14, align="left",
    )

    # row 3: failures
    s.shape(
        "fatal", "rectangle", COL[1], ROW[2], W, H,
        "PENDING + FATAL WAITING REASON\n"
        "ErrImagePull, CreateContainerConfigError,\n"
        "CreateContainerError, ImageInspectError,\n"
        "InvalidImageName (default list)\n"
        "watcher emits: FAILED (no failure details)\n"
        "TI still QUEUED: requeued once, no retry\n"
        "used (pod_launch_failure_retries = 1)\n"
        "2nd time: FAILED reported; pod kept\n"
        "skip: ErrImagePull 'pull QPS exceeded'",
        RED, font=14, align="left",
    )
    s.shape(
        "failed", "rectangle", COL[2], ROW[2], W, H,
        "FAILED\n"
        "non-zero exit, OOMKilled (137 typical),\n"
        "init container failed\n"
        "watcher emits: FAILED + failure details\n"
        "(ProviderFailed: FAILED, no details)\n"
        "TI RUNNING: TI FAILED, scheduler retries\n"
        "if retries remain\n"
        "TI still QUEUED and reason not 'Error':\n"
        "requeued, no retry used (10.20.0+)\n"
        "pod kept (delete_worker_pods_on_failure)",
        RED, font=14, align="left",
    )
    s.shape(
        "deleted-running", "rectangle", COL[3], ROW[2], W, H,
        "DELETED WHILE RUNNING\n"
        "kubectl delete, eviction (graceful)\n"
        "DELETED event with deletionTimestamp\n"
        "watcher emits: FAILED\n"
        "('deleted before it could complete')\n"
        "TI: failure handling, retried if\n"
        "retries remain",
        RED, font=14, align="left",
    )

    # arrows
    s.arrow("a-created-pending", "created", "pending",
            [right_mid(s, "created"), left_mid(s, "pending")],
            label="pod accepted")
    s.arrow("a-pending-running", "pending", "running",
            [right_mid(s, "pending"), left_mid(s, "running")],
            label="containers\nstarted")
    s.arrow("a-running-succeeded", "running", "succeeded",
            [right_mid(s, "running"), left_mid(s, "succeeded")],
            label="all exit 0")
    s.arrow("a-pending-backoff", "pending", "backoff",
            [top_mid(s, "pending"), bottom_mid(s, "backoff")],
            label="pull keeps failing")
    s.arrow("a-pending-deleted", "pending", "deleted-pending",
            [top_mid(s, "pending", COL[1] + 60), bottom_mid(s, "deleted-pending", COL[0] + W - 60)],
            label="pod deleted")
    s.arrow("a-running-unknown", "running", "unknown",
            [top_mid(s, "running"), bottom_mid(s, "unknown")],
            label="node lost")
    s.arrow("a-running-adopted", "running", "adopted",
            [top_mid(s, "running", COL[2] + W - 60), bottom_mid(s, "adopted", COL[3] + 60)],
            label="relabelled")
    s.arrow("a-pending-fatal", "pending", "fatal",
            [bottom_mid(s, "pending"), top_mid(s, "fatal")],
            label="fatal waiting\nreason")
    s.arrow("a-pending-failed", "pending", "failed",
            [bottom_mid(s, "pending", COL[1] + W - 60), top_mid(s, "failed", COL[2] + 60)],
            label="init fails")
    s.arrow("a-running-failed", "running", "failed",
            [bottom_mid(s, "running"), top_mid(s, "failed")],
            label="non-zero exit\nor OOMKilled")
    s.arrow("a-running-deleted", "running", "deleted-running",
            [bottom_mid(s, "running", COL[2] + W - 60), top_mid(s, "deleted-running", COL[3] + 60)],
            label="deleted")
    fatal = s.by_id[s.resolve("fatal")]
    created = s.by_id[s.resolve("created")]
    corner = (COL[0] + W / 2, fatal["y"] + fatal["height"] / 2)
    s.arrow("a-fatal-requeue", "fatal", "created",
            [left_mid(s, "fatal"), corner, (corner[0], created["y"] + created["height"] + ARROW_GAP)],
            label="requeued: new pod\n(TI was still QUEUED)", dashed=True)

    # timing panel
    band_top = ROW[2] + H + 110
    s.text("timing-title", 40, band_top, "Timing notes", font=26)
    s.shape(
        "timing-guaranteed", "rectangle", 40, band_top + 50, 1090, 270,
        "GUARANTEED (code and config defaults)\n"
        "- [scheduler] task_queued_timeout = 600 s, checked every\n"
        "  task_queued_timeout_check_interval = 120 s: a pod stuck Pending is revoked\n"
        "  on the first check after its TI has been QUEUED for 600 s.\n"
        "- A revoked TI goes back to SCHEDULED at most 2 times, then FAILED.\n"
        "- pod_launch_failure_retries = 1: one free requeue for a pre-execution failure.\n"
        "- task_publish_max_retries = 0: pod-create API errors are reported FAILED at once.\n"
        "- task_instance_heartbeat_timeout = 300 s for a RUNNING TI that goes silent.",
        TEAL, font=15, align="left",
    )
    s.shape(
        "timing-typical", "rectangle", 1190, band_top + 50, 1090, 270,
        "TYPICAL (depends on the cluster, not guaranteed)\n"
        "- Pending lasts from seconds (image cached, node free) to minutes\n"
        "  (node autoscaling, large images, busy registry). Airflow sets no\n"
        "  start-up time; only task_queued_timeout bounds it.\n"
        "- A failing pull usually shows ErrImagePull before ImagePullBackOff,\n"
        "  so with defaults the first ErrImagePull event already fails the pod.\n"
        "- Watch events arrive soon after a phase change and are applied on the\n"
        "  next scheduler loop.",
        CREAM, font=15, align="left", stroke_style="dashed",
    )
    return s


# --------------------------------------------------------------------------------------------


DIAGRAMS = {
    "01_complete_flow.excalidraw": build_complete_flow,
    "02_pod_lifecycle.excalidraw": build_pod_lifecycle,
}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--check", action="store_true", help="build and check only, write nothing")
    parser.add_argument("--out-dir", type=Path, default=OUT_DIR)
    args = parser.parse_args(argv)

    failed = False
    for filename, builder in DIAGRAMS.items():
        scene = builder()
        problems = scene.check_layout()
        counts: dict[str, int] = {}
        for el in scene.elements:
            counts[el["type"]] = counts.get(el["type"], 0) + 1
        summary = ", ".join(f"{k}={v}" for k, v in sorted(counts.items()))
        print(f"{filename}: {len(scene.elements)} elements ({summary})")
        for problem in problems:
            print(f"  LAYOUT PROBLEM: {problem}")
        if problems:
            failed = True
            continue
        if not args.check:
            args.out_dir.mkdir(parents=True, exist_ok=True)
            path = args.out_dir / filename
            path.write_text(json.dumps(scene.document(), indent=2, ensure_ascii=False) + "\n",
                            encoding="utf-8")
            print(f"  wrote {path}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
