#!/usr/bin/env python3
"""Generates the protobuf, the C++ field table and the docs from events.toml (the one schema).

usage: gen_schema.py SCHEMA --proto OUT.proto --cpp-dir DIR --doc OUT.md
       gen_schema.py SCHEMA --check PROTO DOC   (exit 1 when the checked-in files drift)
"""
import argparse
import os
import re
import sys
import tomllib

TYPES = {
    # schema type: (proto type, repeated, C++ FieldType, SQLite column type)
    "keyword": ("string", False, "Keyword", "TEXT"),
    "text": ("string", False, "Text", "TEXT"),
    "ip": ("string", False, "Ip", "TEXT"),
    "long": ("int64", False, "Long", "INTEGER"),
    "timestamp": ("int64", False, "Timestamp", "INTEGER"),
    "bool": ("bool", False, "Bool", "INTEGER"),
    "keywords": ("string", True, "Keywords", "TEXT"),
}
EXTRA_FIELD_NUMBER = 2047


def load(path):
    with open(path, "rb") as f:
        schema = tomllib.load(f)
    categories = list(schema["categories"].keys())
    fields = schema["field"]
    seen_ids, seen_names = set(), set()
    for f in fields:
        for key in ("name", "id", "type", "in", "doc"):
            if key not in f:
                sys.exit(f"{path}: field {f.get('name', '?')}: missing '{key}'")
        if f["type"] not in TYPES:
            sys.exit(f"{path}: field {f['name']}: unknown type {f['type']}")
        if f["id"] in seen_ids or f["name"] in seen_names:
            sys.exit(f"{path}: field {f['name']}: duplicate id or name")
        if not (0 < f["id"] < EXTRA_FIELD_NUMBER) or 19000 <= f["id"] <= 19999:
            sys.exit(f"{path}: field {f['name']}: id out of range")
        for c in f["in"]:
            if c != "*" and c not in categories:
                sys.exit(f"{path}: field {f['name']}: unknown category {c}")
        seen_ids.add(f["id"])
        seen_names.add(f["name"])
        f["column"] = re.sub(r"[^a-z0-9]+", "_", f["name"].lower()).strip("_")
    fields.sort(key=lambda f: f["id"])
    return schema["schema_version"], schema["categories"], fields


def in_mask(field, categories):
    if "*" in field["in"]:
        return (1 << len(categories)) - 1
    return sum(1 << categories.index(c) for c in field["in"])


def gen_proto(version, categories, fields):
    out = [
        "// GENERATED from src/common/schema/events.toml by gen_schema.py. Do not edit.",
        f"// Schema version {version}.",
        'syntax = "proto3";',
        "",
        "package vigil.v1;",
        "",
        "// One event of any category. Field numbers are the schema's stable field ids;",
        "// only the fields that are set travel on the wire.",
        "message Event {",
    ]
    for f in fields:
        ptype, repeated, _, _ = TYPES[f["type"]]
        label = "repeated" if repeated else "optional"
        out.append(f"  // {f['name']}: {f['doc']}")
        out.append(f"  {label} {ptype} {f['column']} = {f['id']};")
    out.append("  // Fields the schema does not name (ECS dotted name -> value), kept, never dropped.")
    out.append(f"  map<string, string> extra = {EXTRA_FIELD_NUMBER};")
    out.append("}")
    out.append("")
    return "\n".join(out)


def gen_doc(version, categories, fields):
    out = [
        "<!-- GENERATED from src/common/schema/events.toml by gen_schema.py. Do not edit. -->",
        "# Event schema",
        "",
        f"Schema version **{version}**. Every event has a category, which is also the table it is stored in.",
        "Field names follow the Elastic Common Schema (ECS); `vigil.*` names are Vigil's own.",
        "Fields an event source knows but the schema does not name are kept in `extra`.",
        "",
        "## Categories",
        "",
        "| category | what |",
        "|---|---|",
    ]
    for c, d in categories.items():
        out.append(f"| `{c}` | {d} |")
    out += ["", "## Fields", "", "| field | type | id | categories | description |", "|---|---|---|---|---|"]
    for f in fields:
        cats = "all" if "*" in f["in"] else ", ".join(f["in"])
        out.append(f"| `{f['name']}` | {f['type']} | {f['id']} | {cats} | {f['doc']} |")
    out.append("")
    return "\n".join(out)


def cpp_str(s):
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def gen_cpp(version, categories, fields):
    hpp = [
        "// GENERATED from src/common/schema/events.toml by gen_schema.py. Do not edit.",
        "#pragma once",
        "#include <cstdint>",
        "",
        "namespace vigil::schema {",
        f"inline constexpr int kSchemaVersion = {version};",
        f"inline constexpr int kCategoryCount = {len(categories)};",
        f"inline constexpr int kFieldCount = {len(fields)};",
        "enum class Category : std::uint8_t {",
    ]
    for c in categories:
        hpp.append(f"  {c.capitalize()},")
    hpp += ["};", "", "// Field ids (the protobuf field numbers).", "namespace field {"]
    for f in fields:
        ident = "k" + "".join(p.capitalize() for p in f["column"].split("_"))
        hpp.append(f"inline constexpr std::uint16_t {ident} = {f['id']};")
    hpp += ["}  // namespace field", "}  // namespace vigil::schema", ""]

    cpp = [
        "// GENERATED from src/common/schema/events.toml by gen_schema.py. Do not edit.",
        '#include "common/schema.hpp"',
        "",
        "namespace vigil::schema {",
        "namespace {",
        "constexpr CategoryDef kCategoryTable[] = {",
    ]
    for i, (c, d) in enumerate(categories.items()):
        cpp.append(f"    {{Category::{c.capitalize()}, {cpp_str(c)}, {cpp_str(d)}}},")
    cpp += ["};", "constexpr FieldDef kFieldTable[] = {"]
    for f in fields:
        _, _, ctype, sqltype = TYPES[f["type"]]
        cpp.append(
            f"    {{{f['id']}, {cpp_str(f['name'])}, {cpp_str(f['column'])}, FieldType::{ctype}, "
            f"{in_mask(f, list(categories))}u, {cpp_str(f['doc'])}}},")
    cpp += ["};", "}  // namespace", "",
            "std::span<const CategoryDef> Categories() { return kCategoryTable; }",
            "std::span<const FieldDef> Fields() { return kFieldTable; }", ""]

    # Typed generic access: one switch per operation, no protobuf reflection on the hot path.
    cpp += ["FieldValue Get(const v1::Event& e, std::uint16_t id) {", "  switch (id) {"]
    for f in fields:
        c = f["column"]
        _, repeated, _, _ = TYPES[f["type"]]
        if repeated:
            cpp.append(f"    case {f['id']}: return e.{c}_size() ? FieldValue{{&e.{c}()}} : FieldValue{{}};")
        elif f["type"] in ("long", "timestamp"):
            cpp.append(f"    case {f['id']}: return e.has_{c}() ? FieldValue{{std::int64_t{{e.{c}()}}}} : FieldValue{{}};")
        elif f["type"] == "bool":
            cpp.append(f"    case {f['id']}: return e.has_{c}() ? FieldValue{{bool{{e.{c}()}}}} : FieldValue{{}};")
        else:
            cpp.append(f"    case {f['id']}: return e.has_{c}() ? FieldValue{{std::string_view{{e.{c}()}}}} : FieldValue{{}};")
    cpp += ["    default: return {};", "  }", "}", ""]

    cpp += ["bool SetString(v1::Event& e, std::uint16_t id, std::string_view v) {", "  switch (id) {"]
    for f in fields:
        c = f["column"]
        if f["type"] in ("keyword", "text", "ip"):
            cpp.append(f"    case {f['id']}: e.set_{c}(std::string{{v}}); return true;")
        elif f["type"] == "keywords":
            cpp.append(f"    case {f['id']}: e.add_{c}(std::string{{v}}); return true;")
    cpp += ["    default: return false;", "  }", "}", ""]

    cpp += ["bool SetInt(v1::Event& e, std::uint16_t id, std::int64_t v) {", "  switch (id) {"]
    for f in fields:
        c = f["column"]
        if f["type"] in ("long", "timestamp"):
            cpp.append(f"    case {f['id']}: e.set_{c}(v); return true;")
        elif f["type"] == "bool":
            cpp.append(f"    case {f['id']}: e.set_{c}(v != 0); return true;")
    cpp += ["    default: return false;", "  }", "}", "", "}  // namespace vigil::schema", ""]
    return "\n".join(hpp), "\n".join(cpp)


def write_if_changed(path, text):
    if os.path.exists(path):
        with open(path) as f:
            if f.read() == text:
                return
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    with open(path, "w") as f:
        f.write(text)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("schema")
    ap.add_argument("--proto")
    ap.add_argument("--doc")
    ap.add_argument("--cpp-dir")
    ap.add_argument("--check", nargs=2, metavar=("PROTO", "DOC"))
    args = ap.parse_args()
    version, categories, fields = load(args.schema)
    proto, doc = gen_proto(version, categories, fields), gen_doc(version, categories, fields)
    if args.check:
        bad = []
        for path, want in zip(args.check, (proto, doc)):
            have = open(path).read() if os.path.exists(path) else ""
            if have != want:
                bad.append(path)
        if bad:
            print("out of date with events.toml: " + ", ".join(bad) +
                  " (regenerate: cmake --build build --target schema-files)", file=sys.stderr)
            return 1
        print(f"schema v{version}: {len(fields)} fields, {len(categories)} categories, generated files up to date")
        return 0
    if args.proto:
        write_if_changed(args.proto, proto)
    if args.doc:
        write_if_changed(args.doc, doc)
    if args.cpp_dir:
        hpp, cpp = gen_cpp(version, categories, fields)
        write_if_changed(os.path.join(args.cpp_dir, "common/schema_generated.hpp"), hpp)
        write_if_changed(os.path.join(args.cpp_dir, "common/schema_generated.cpp"), cpp)
    return 0


if __name__ == "__main__":
    sys.exit(main())
