//! Cross-check of the generated declarations (src/c.zig, from the ABI
//! manifest) against the C header itself, translated by @cImport: every
//! function the header declares exists in c.zig with the same parameter
//! count, sizes and kinds; every struct has the same size and field offsets;
//! every constant has the same value. Built only with -Dpk-include-dir.
const std = @import("std");
const pk = @import("processkit");
const c = pk.c;
const h = @cImport(@cInclude("processkit.h"));

fn kind(comptime T: type) []const u8 {
    return switch (@typeInfo(T)) {
        .int, .@"enum", .comptime_int => "int",
        .pointer, .optional => "pointer",
        .float => "float",
        .void => "void",
        else => @typeName(T),
    };
}

fn sameAbi(comptime A: type, comptime B: type) bool {
    return @sizeOf(A) == @sizeOf(B) and std.mem.eql(u8, kind(A), kind(B));
}

test "every header function is in c.zig with the same ABI" {
    comptime {
        @setEvalBranchQuota(200_000);
        var n: usize = 0;
        for (@typeInfo(h).@"struct".decls) |d| {
            if (!std.mem.startsWith(u8, d.name, "pk_")) continue;
            const H = @TypeOf(@field(h, d.name));
            if (@typeInfo(H) != .@"fn") continue;
            if (!@hasDecl(c, d.name)) @compileError("c.zig does not declare " ++ d.name);
            const hf = @typeInfo(H).@"fn";
            const zf = @typeInfo(@TypeOf(@field(c, d.name))).@"fn";
            if (hf.params.len != zf.params.len) @compileError(d.name ++ ": parameter count differs");
            for (hf.params, zf.params) |hp, zp| {
                if (!sameAbi(hp.type.?, zp.type.?)) @compileError(d.name ++ ": parameter type differs");
            }
            if (!sameAbi(hf.return_type.?, zf.return_type.?)) @compileError(d.name ++ ": return type differs");
            n += 1;
        }
        if (n != c.function_count) @compileError("the header and c.zig declare different function counts");
    }
}

test "every generated struct matches the header's layout" {
    comptime {
        @setEvalBranchQuota(200_000);
        for (@typeInfo(c).@"struct".decls) |d| {
            if (!std.mem.startsWith(u8, d.name, "pk_")) continue;
            if (@TypeOf(@field(c, d.name)) != type) continue;
            const Z = @field(c, d.name);
            const info = @typeInfo(Z);
            if (info != .@"struct" or info.@"struct".layout != .@"extern") continue;
            const H = @field(h, d.name);
            if (@sizeOf(Z) != @sizeOf(H) or @alignOf(Z) != @alignOf(H)) @compileError(d.name ++ ": size or alignment differs");
            for (info.@"struct".fields) |f| {
                if (@offsetOf(Z, f.name) != @offsetOf(H, f.name)) @compileError(d.name ++ "." ++ f.name ++ ": offset differs");
                if (@sizeOf(f.type) != @sizeOf(@FieldType(H, f.name))) @compileError(d.name ++ "." ++ f.name ++ ": size differs");
            }
        }
    }
}

test "every generated constant has the header's value" {
    comptime {
        @setEvalBranchQuota(200_000);
        for (@typeInfo(c).@"struct".decls) |d| {
            if (!std.mem.startsWith(u8, d.name, "PK_")) continue;
            if (@field(c, d.name) != @field(h, d.name)) @compileError(d.name ++ ": value differs");
        }
    }
}
