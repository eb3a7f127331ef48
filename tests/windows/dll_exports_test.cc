// processkit.dll as a foreign caller sees it: loaded by path, its export
// table read, every function named by the ABI manifest found and nothing
// else exported, then a group driven through GetProcAddress alone.
#include <gtest/gtest.h>

#include <windows.h>

#include <set>
#include <string>

#include "processkit.h"
#include "support/proc_util.h"
#include "win_test_util.h"

namespace {

// abi_functions.inc: one "name", per manifest function (generated).
const char *const kManifestFunctions[] = {
#include "tests/windows/abi_functions.inc"
};

std::set<std::string> ExportedNames(HMODULE dll)
{
    std::set<std::string> names;
    auto *base = reinterpret_cast<const unsigned char *>(dll);
    auto *dos = reinterpret_cast<const IMAGE_DOS_HEADER *>(base);
    auto *nt = reinterpret_cast<const IMAGE_NT_HEADERS *>(base + dos->e_lfanew);
    const IMAGE_DATA_DIRECTORY &dir = nt->OptionalHeader.DataDirectory[IMAGE_DIRECTORY_ENTRY_EXPORT];
    if (!dir.VirtualAddress)
        return names;
    auto *exp = reinterpret_cast<const IMAGE_EXPORT_DIRECTORY *>(base + dir.VirtualAddress);
    auto *name_rvas = reinterpret_cast<const DWORD *>(base + exp->AddressOfNames);
    for (DWORD i = 0; i < exp->NumberOfNames; i++)
        names.insert(reinterpret_cast<const char *>(base + name_rvas[i]));
    return names;
}

HMODULE LoadPk()
{
    char full[MAX_PATH];
    GetFullPathNameA("processkit.dll", MAX_PATH, full, nullptr);
    return LoadLibraryA(full);
}

TEST(DllExports, ExactlyTheManifestsFunctions)
{
    HMODULE dll = LoadPk();
    ASSERT_NE(dll, nullptr) << "LoadLibrary failed: " << GetLastError();
    std::set<std::string> want(std::begin(kManifestFunctions), std::end(kManifestFunctions));
    ASSERT_EQ(want.size(), sizeof kManifestFunctions / sizeof kManifestFunctions[0]) << "a function listed twice";
    ASSERT_GE(want.size(), 90u) << "fewer functions than the 1.0 ABI had";
    EXPECT_EQ(ExportedNames(dll), want);
    for (const auto &name : want)
        EXPECT_NE(GetProcAddress(dll, name.c_str()), nullptr) << name;
    FreeLibrary(dll);
}

TEST(DllExports, AGroupThroughFunctionPointersAlone)
{
    HMODULE dll = LoadPk();
    ASSERT_NE(dll, nullptr);
    auto version = reinterpret_cast<uint32_t (*)(void)>(GetProcAddress(dll, "pk_version"));
    auto create = reinterpret_cast<int (*)(const pk_group_options *, pk_group **)>(GetProcAddress(dll, "pk_group_create"));
    auto spawn = reinterpret_cast<int (*)(pk_group *, const pk_spawn_options *, pk_child **)>(
        GetProcAddress(dll, "pk_group_spawn"));
    auto pid_of = reinterpret_cast<int (*)(pk_child *, int32_t *)>(GetProcAddress(dll, "pk_child_pid"));
    auto free_child = reinterpret_cast<int (*)(pk_child *)>(GetProcAddress(dll, "pk_child_free"));
    auto free_group = reinterpret_cast<int (*)(pk_group *)>(GetProcAddress(dll, "pk_group_free"));
    auto last_error = reinterpret_cast<const char *(*)(void)>(GetProcAddress(dll, "pk_last_error"));
    ASSERT_TRUE(version && create && spawn && pid_of && free_child && free_group && last_error);
    EXPECT_EQ(version() >> 16, (uint32_t)PK_VERSION_MAJOR);

    pk_group *g = nullptr;
    ASSERT_EQ(create(nullptr, &g), PK_OK) << last_error();
    std::string child = pkwin::TestChild();
    const char *argv[] = {child.c_str(), "sleep", "600000", nullptr};
    pk_spawn_options so = PK_SPAWN_OPTIONS_INIT;
    so.argv = argv;
    pk_child *c = nullptr;
    ASSERT_EQ(spawn(g, &so, &c), PK_OK) << last_error();
    int32_t pid = 0;
    ASSERT_EQ(pid_of(c, &pid), PK_OK);
    pktest::ProcId id = pktest::Identify((DWORD)pid);
    EXPECT_TRUE(pktest::Alive(id));
    EXPECT_EQ(free_group(g), PK_OK);
    EXPECT_TRUE(pktest::WaitDead(id, 10000));
    EXPECT_EQ(free_child(c), PK_OK);
    // A bad handle is an error through the DLL too, not a crash.
    EXPECT_EQ(free_group(g), PK_ERR_HANDLE);
    FreeLibrary(dll);
}

} // namespace
