//! Cross-check of the generated declarations (src/c.zig, from the ABI
//! manifest) against the C header itself, translated by build.zig's
//! translate-c step into the module `processkit_h`: every function the
//! header declares exists in c.zig with the same parameter count, sizes and
//! kinds; every struct has the same size and field offsets; every constant
//! has the same value.
const std = @import("std");
const pk = @import("processkit");
const c = pk.c;
const h = @import("processkit_h");

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
        for (@typeInfo(h).@"struct".decl_names) |name| {
            if (!std.mem.startsWith(u8, name, "pk_")) continue;
            const H = @TypeOf(@field(h, name));
            if (@typeInfo(H) != .@"fn") continue;
            if (!@hasDecl(c, name)) @compileError("c.zig does not declare " ++ name);
            const hf = @typeInfo(H).@"fn";
            const zf = @typeInfo(@TypeOf(@field(c, name))).@"fn";
            if (hf.param_types.len != zf.param_types.len) @compileError(name ++ ": parameter count differs");
            for (hf.param_types, zf.param_types) |hp, zp| {
                if (!sameAbi(hp.?, zp.?)) @compileError(name ++ ": parameter type differs");
            }
            if (!sameAbi(hf.return_type.?, zf.return_type.?)) @compileError(name ++ ": return type differs");
            n += 1;
        }
        if (n != c.function_count) @compileError("the header and c.zig declare different function counts");
    }
}

test "every generated struct matches the header's layout" {
    comptime {
        @setEvalBranchQuota(200_000);
        for (@typeInfo(c).@"struct".decl_names) |name| {
            if (!std.mem.startsWith(u8, name, "pk_")) continue;
            if (@TypeOf(@field(c, name)) != type) continue;
            const Z = @field(c, name);
            const info = @typeInfo(Z);
            if (info != .@"struct" or info.@"struct".layout != .@"extern") continue;
            const H = @field(h, name);
            if (@sizeOf(Z) != @sizeOf(H) or @alignOf(Z) != @alignOf(H)) @compileError(name ++ ": size or alignment differs");
            for (info.@"struct".field_names, info.@"struct".field_types) |field, T| {
                if (@offsetOf(Z, field) != @offsetOf(H, field)) @compileError(name ++ "." ++ field ++ ": offset differs");
                if (@sizeOf(T) != @sizeOf(@FieldType(H, field))) @compileError(name ++ "." ++ field ++ ": size differs");
            }
        }
    }
}

test "every generated constant has the header's value" {
    comptime {
        @setEvalBranchQuota(200_000);
        for (@typeInfo(c).@"struct".decl_names) |name| {
            if (!std.mem.startsWith(u8, name, "PK_")) continue;
            if (@field(c, name) != @field(h, name)) @compileError(name ++ ": value differs");
        }
    }
}
