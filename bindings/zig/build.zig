//! zig build test -Dpk-lib-dir=DIR [-Dpk-include-dir=DIR]
//! Links -lprocesskit from DIR (with DIR as the test binary's rpath).
const std = @import("std");

pub fn build(b: *std.Build) void {
    const target = b.standardTargetOptions(.{});
    const optimize = b.standardOptimizeOption(.{});
    const lib_dir = b.option([]const u8, "pk-lib-dir", "directory holding libprocesskit.so (and .so.1)");
    const include_dir = b.option([]const u8, "pk-include-dir", "directory holding processkit.h (enables the header cross-check)");

    const mod = b.addModule("processkit", .{
        .root_source_file = b.path("src/processkit.zig"),
        .target = target,
        .optimize = optimize,
        .link_libc = true,
    });
    if (lib_dir) |dir| {
        mod.addLibraryPath(.{ .cwd_relative = dir });
        mod.addRPath(.{ .cwd_relative = dir });
    }
    mod.linkSystemLibrary("processkit", .{ .use_pkg_config = .no });

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

    const step = b.step("test", "Run the processkit binding tests");
    // The generated and hand-written sources stay zig-fmt clean.
    step.dependOn(&b.addFmt(.{ .paths = &.{ "build.zig", "build.zig.zon", "src", "tests" }, .check = true }).step);
    step.dependOn(&b.addRunArtifact(unit).step);
    step.dependOn(&b.addRunArtifact(scenarios).step);

    // The generated declarations against the real header (@cImport), when given.
    if (include_dir) |dir| {
        const header_mod = b.createModule(.{
            .root_source_file = b.path("tests/header_test.zig"),
            .target = target,
            .optimize = optimize,
            .link_libc = true,
            .imports = &.{.{ .name = "processkit", .module = mod }},
        });
        header_mod.addIncludePath(.{ .cwd_relative = dir });
        const header = b.addTest(.{ .name = "processkit-header", .root_module = header_mod });
        step.dependOn(&b.addRunArtifact(header).step);
    }
}
