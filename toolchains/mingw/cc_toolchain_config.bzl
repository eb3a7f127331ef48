"""cc_toolchain_config for Debian's mingw-w64 cross compiler (posix threads).

Targets Windows x86_64 from Linux. Everything is linked statically (libgcc,
libstdc++, winpthread) so the .exe files run under wine without DLLs next to
them. Copts, cxxopts and linkopts still come from Bazel's legacy features.
"""

load("@bazel_tools//tools/build_defs/cc:action_names.bzl", "ACTION_NAMES")
load(
    "@bazel_tools//tools/cpp:cc_toolchain_config_lib.bzl",
    "action_config",
    "artifact_name_pattern",
    "feature",
    "flag_group",
    "flag_set",
    "tool",
    "tool_path",
    "with_feature_set",
)

_COMPILE_ACTIONS = [
    ACTION_NAMES.assemble,
    ACTION_NAMES.preprocess_assemble,
    ACTION_NAMES.c_compile,
    ACTION_NAMES.cpp_compile,
    ACTION_NAMES.cpp_header_parsing,
    ACTION_NAMES.cpp_module_compile,
    ACTION_NAMES.linkstamp_compile,
]

_LINK_ACTIONS = [
    ACTION_NAMES.cpp_link_executable,
    ACTION_NAMES.cpp_link_dynamic_library,
    ACTION_NAMES.cpp_link_nodeps_dynamic_library,
]

def _impl(ctx):
    prefix = ctx.attr.tool_prefix

    # Link with g++, not gcc: gcc would need -lstdc++ after every input, and
    # Bazel's legacy features give no reliable slot at the end of the line.
    link_action_configs = [
        action_config(
            action_name = name,
            enabled = True,
            tools = [tool(path = prefix + "g++" + ctx.attr.tool_suffix)],
        )
        for name in _LINK_ACTIONS
    ]

    features = [
        feature(name = "dbg"),
        feature(name = "opt"),
        feature(name = "fastbuild"),
        feature(
            name = "default_compile_flags",
            enabled = True,
            flag_sets = [
                # Without these gcc resolves symlinks in the header paths it
                # reports (.d files): the mingw headers are links into
                # /usr/share/mingw-w64/include, the googletest repo's files
                # links into /usr/src/googletest. Bazel then finds neither
                # among the declared inputs: "undeclared inclusion(s)".
                flag_set(
                    actions = _COMPILE_ACTIONS,
                    flag_groups = [flag_group(flags = [
                        "-no-canonical-prefixes",
                        "-fno-canonical-system-headers",
                    ])],
                ),
                flag_set(
                    actions = _COMPILE_ACTIONS,
                    flag_groups = [flag_group(flags = ["-g"])],
                    with_features = [with_feature_set(features = ["dbg"])],
                ),
                flag_set(
                    actions = _COMPILE_ACTIONS,
                    flag_groups = [flag_group(flags = ["-O2", "-DNDEBUG"])],
                    with_features = [with_feature_set(features = ["opt"])],
                ),
            ],
        ),
        feature(
            name = "default_link_flags",
            enabled = True,
            flag_sets = [
                # Fully static: no libgcc_s/libstdc++/libwinpthread DLLs to
                # ship or put on wine's PATH.
                flag_set(
                    actions = _LINK_ACTIONS,
                    flag_groups = [flag_group(flags = [
                        "-no-canonical-prefixes",
                        "-static-libgcc",
                        "-static-libstdc++",
                        "-static",
                    ])],
                ),
            ],
        ),
    ]

    tools = ["ar", "cpp", "gcov", "ld", "nm", "objcopy", "objdump", "strip"]
    tool_paths = [tool_path(name = "gcc", path = prefix + "gcc" + ctx.attr.tool_suffix)]
    tool_paths += [
        tool_path(
            name = t,
            path = prefix + t + (ctx.attr.tool_suffix if t in ("cpp", "gcov") else ""),
        )
        for t in tools
    ]

    # Bazel wants these even though nothing here uses them.
    tool_paths += [
        tool_path(name = "dwp", path = "/bin/false"),
        tool_path(name = "llvm-cov", path = "/bin/false"),
    ]

    return cc_common.create_cc_toolchain_config_info(
        ctx = ctx,
        toolchain_identifier = "mingw-w64-x86_64",
        host_system_name = "x86_64-unknown-linux-gnu",
        target_system_name = "x86_64-w64-mingw32",
        target_cpu = "x64_windows",
        target_libc = "msvcrt",
        compiler = "mingw-gcc",
        abi_version = "local",
        abi_libc_version = "local",
        action_configs = link_action_configs,
        features = features,
        tool_paths = tool_paths,
        cxx_builtin_include_directories = ctx.attr.builtin_include_directories,
        artifact_name_patterns = [
            artifact_name_pattern(category_name = "executable", prefix = "", extension = ".exe"),
            artifact_name_pattern(category_name = "dynamic_library", prefix = "", extension = ".dll"),
        ],
    )

mingw_cc_toolchain_config = rule(
    implementation = _impl,
    attrs = {
        "builtin_include_directories": attr.string_list(mandatory = True),
        "tool_prefix": attr.string(default = "/usr/bin/x86_64-w64-mingw32-"),
        "tool_suffix": attr.string(default = "-posix"),
    },
    provides = [CcToolchainConfigInfo],
)
