//! The processkit Zig package.
//!
//! A project depends on it in its build.zig.zon and imports the module:
//!
//!     const pk = b.dependency("processkit", .{ .target = target, .optimize = optimize });
//!     exe.root_module.addImport("processkit", pk.module("processkit"));
//!
//! The module compiles the C library (csrc/processkit.c, the amalgamation:
//! one C11 translation unit) into whatever imports it and links libc, so no
//! prebuilt libprocesskit and no system package is needed.
//!
//! zig build test                      the binding's tests, on the amalgamation
//!   -Dpk-lib-dir=DIR                  link libprocesskit.so from DIR instead (DIR is the rpath)
//!   -Dpk-include-dir=DIR              cross-check c.zig against DIR/processkit.h
//!                                     (default: csrc/processkit.h)
//!   -Dscenarios=FILE                  the shared scenario file the scenario test drives
//!                                     (default: ../../tests/scenarios/scenarios.json)
const std = @import("std");

pub fn build(b: *std.Build) void {
    const target = b.standardTargetOptions(.{});
    const optimize = b.standardOptimizeOption(.{});
    const lib_dir = b.option([]const u8, "pk-lib-dir", "link libprocesskit.so (and .so.1) from this directory instead of compiling csrc/processkit.c");
    const include_dir = b.option([]const u8, "pk-include-dir", "directory holding the processkit.h the header cross-check reads (default: csrc)");
    const scenarios_file: std.Build.LazyPath = if (b.option([]const u8, "scenarios", "the shared scenario file (default: ../../tests/scenarios/scenarios.json)")) |f|
        .{ .cwd_relative = f }
    else
        b.path("../../tests/scenarios/scenarios.json");

    const mod = b.addModule("processkit", .{
        .root_source_file = b.path("src/processkit.zig"),
        .target = target,
        .optimize = optimize,
        .link_libc = true,
    });
    if (lib_dir) |dir| {
        mod.addLibraryPath(.{ .cwd_relative = dir });
        mod.addRPath(.{ .cwd_relative = dir });
        mod.linkSystemLibrary("processkit", .{ .use_pkg_config = .no });
    } else {
        mod.addCSourceFiles(.{
            .root = b.path("csrc"),
            .files = &.{"processkit.c"},
            .flags = &.{ "-std=c11", "-pthread" },
        });
        mod.linkSystemLibrary("pthread", .{}); // part of libc where it exists
        if (target.result.os.tag == .windows) mod.linkSystemLibrary("ws2_32", .{});
    }

    // The library's own tests (every generated declaration links).
    const unit = b.addTest(.{ .name = "processkit-unit", .root_module = mod });

    // The scenario tests, through the public module as a user would.
    const scenarios = b.addTest(.{
        .name = "processkit-scenarios",
        .root_module = b.createModule(.{
            .root_source_file = b.path("tests/processkit_test.zig"),
            .target = target,
            .optimize = optimize,
            .link_libc = true,
            .imports = &.{.{ .name = "processkit", .module = mod }},
        }),
    });

    // The shared scenario file, and the test doubles, through the public module.
    const scenario_options = b.addOptions();
    scenario_options.addOptionPath("scenarios_path", scenarios_file);
    const shared = b.addTest(.{
        .name = "processkit-shared-scenarios",
        .root_module = b.createModule(.{
            .root_source_file = b.path("tests/scenarios_test.zig"),
            .target = target,
            .optimize = optimize,
            .link_libc = true,
            .imports = &.{
                .{ .name = "processkit", .module = mod },
                .{ .name = "scenario_options", .module = scenario_options.createModule() },
            },
        }),
    });
    const doubles = b.addTest(.{
        .name = "processkit-runner",
        .root_module = b.createModule(.{
            .root_source_file = b.path("tests/runner_test.zig"),
            .target = target,
            .optimize = optimize,
            .link_libc = true,
            .imports = &.{.{ .name = "processkit", .module = mod }},
        }),
    });

    // The generated declarations against the real header (translate-c).
    const header_c = b.addTranslateC(.{
        .root_source_file = if (include_dir) |dir| .{ .cwd_relative = b.pathJoin(&.{ dir, "processkit.h" }) } else b.path("csrc/processkit.h"),
        .target = target,
        .optimize = optimize,
    });
    const header = b.addTest(.{
        .name = "processkit-header",
        .root_module = b.createModule(.{
            .root_source_file = b.path("tests/header_test.zig"),
            .target = target,
            .optimize = optimize,
            .link_libc = true,
            .imports = &.{
                .{ .name = "processkit", .module = mod },
                .{ .name = "processkit_h", .module = header_c.createModule() },
            },
        }),
    });

    const step = b.step("test", "Run the processkit binding tests");
    // The generated and hand-written sources stay zig-fmt clean.
    step.dependOn(&b.addFmt(.{ .paths = b.pathList(&.{ "build.zig", "build.zig.zon", "src", "tests" }), .check = true }).step);
    step.dependOn(&b.addRunArtifact(unit).step);
    step.dependOn(&b.addRunArtifact(scenarios).step);
    step.dependOn(&b.addRunArtifact(header).step);
    step.dependOn(&b.addRunArtifact(shared).step);
    step.dependOn(&b.addRunArtifact(doubles).step);
}
