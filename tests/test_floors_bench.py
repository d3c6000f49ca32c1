"""The floors bench's README table (harness.bench.floors_bench): rendered from a floors.json-shaped
report, written between its markers (or after the Speed heading the first time), every figure
flagged when its target is not met. The timings themselves are `make bench`'s, not asserted here."""

from __future__ import annotations

from harness.bench.floors_bench import README_BEGIN, README_END, readme_table, update_readme

MINI = {"step_s": 0.2, "gflop": 2.8, "floor_s": 0.05, "ratio": 4.0, "target": 3.0, "met": False}
REPORT = {
    "load_average_before": [1.0, 1.0, 1.0], "load_average_after": [1.2, 1.1, 1.0],
    "machine": {"cpu": "Example CPU @ 2.60GHz", "cpus": 2, "torch_cpu_capability": "AVX512", "python": "3.11.7",
                "platform": "Linux"},
    "startup": {"panbench_s": 0.2, "hotcoco_s": 0.13, "ratio": 1.54, "target_s": 0.25, "met": True},
    "evaluate_panoptic": {"images": 50, "panbench_s": 1.0, "hotcoco_cli_s": 0.9, "ratio": 1.11, "target": 1.2,
                          "met": True},
    "allocator": {"default": {"s": 1.9, "minor_faults": 74830, "kernel_s": 0.24, "minor_faults_each_run": [74830, 4]},
                  "policy": {"s": 0.7, "minor_faults": 1, "kernel_s": 0.0, "minor_faults_each_run": [1, 9]},
                  "ratio": 0.37},
    "cold_instances": {"images": 20, "cold_ms": 60.0, "pycocotools_ms": 700.0, "speedup": 11.7, "target": 10.0,
                       "met": True},
    "panda": {"panda_ms": 250.0, "decode_encode_ms": 140.0, "ratio": 1.79, "target": 1.3, "met": False},
    "mini_step": {"matmul_gflops_1_thread": 90.0, "upsnet-mini": MINI, "sss-mini": {**MINI, "met": True}},
}


def test_the_table_names_each_figure_and_flags_the_missed_targets():
    table = readme_table(REPORT)
    assert table.startswith(README_BEGIN) and table.endswith(README_END)
    rows = [line for line in table.splitlines() if line.startswith("| ") and "---" not in line][1:]
    assert len(rows) == 7
    assert [("(not met)" in row) for row in rows] == [False, False, False, False, True, True, False]
    assert "[74830, 4] vs [1, 9]" in table and "load average before [1.0, 1.0, 1.0]" in table
    assert "Example CPU @ 2.60GHz, 2 CPUs, torch AVX512" in table  # the floor's rate depends on the CPU


def test_update_readme_inserts_then_replaces(tmp_path):
    readme = tmp_path / "README.md"
    readme.write_text("# x\n\n## Speed\n\nprose\n")
    update_readme(readme, readme_table(REPORT))
    first = readme.read_text()
    assert first.index(README_BEGIN) < first.index("prose")
    update_readme(readme, readme_table({**REPORT, "panda": {**REPORT["panda"], "ratio": 1.2, "met": True}}))
    second = readme.read_text()
    assert second.count(README_BEGIN) == 1 and "×1.2)" in second and "prose" in second


def test_the_floor_counts_the_deformable_convolutions_matmul_not_its_sparse_sampling():
    """FLOPs of a deformable convolution, forward + backward, under the floor's counter: the three dense
    products of its matmul (2·B·H'W'·O·K·C each), nothing for the sparse bilinear sampling, which
    torch's formula would price as a dense (points x pixels) product."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    from harness.bench.floors_bench import dense_mm_flop
    from harness.models.deform_conv import deform_conv2d

    b, c, o, h, w, k = 2, 4, 5, 6, 8, 9
    x = torch.randn(b, c, h, w, requires_grad=True)
    offset = torch.randn(b, 2 * k, h, w, requires_grad=True)
    weight = torch.randn(o, c, 3, 3, requires_grad=True)
    with FlopCounterMode(display=False, custom_mapping={torch.ops.aten.mm: dense_mm_flop}) as counter:
        deform_conv2d(x, offset, weight, padding=1).sum().backward()
    assert counter.get_total_flops() == 3 * 2 * b * h * w * o * k * c
    with FlopCounterMode(display=False) as plain:
        deform_conv2d(x, offset, weight, padding=1).sum().backward()
    assert plain.get_total_flops() > counter.get_total_flops()  # what the override leaves out
