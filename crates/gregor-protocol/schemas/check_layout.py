#!/usr/bin/env python3
"""Checks that the vendored JSON schemas describe exactly the wire layout
Kafka 4.4.0 uses, as dumped from kafka-clients-4.4.0.jar by
kafka-4.4-layout/DumpLayout.java into kafka-4.4-layout/<Message>.txt.

The upstream JSON files move with Kafka's trunk; this pins them to 4.4."""
import json, re, sys, pathlib

HERE = pathlib.Path(__file__).parent

def load(path):
    text = re.sub(r"^\s*//.*$", "", path.read_text(), flags=re.M)
    return json.loads(text)

def in_range(spec, v):
    if spec is None or spec == "none":
        return False
    if spec.endswith("+"):
        return v >= int(spec[:-1])
    if "-" in spec:
        lo, hi = spec.split("-")
        return int(lo) <= v <= int(hi)
    return v == int(spec)

PRIM = {"int8": "INT8", "int16": "INT16", "int32": "INT32", "int64": "INT64",
        "uint16": "UINT16", "bool": "BOOLEAN", "string": "STRING", "uuid": "UUID",
        "bytes": "BYTES", "float64": "FLOAT64", "records": "RECORDS"}

def layout(msg, v):
    structs = {s["name"]: s for s in msg.get("commonStructs", [])}
    flexible = in_range(msg.get("flexibleVersions"), v)
    out = []
    def tagged(prefix, fields):
        # Java lists the tag numbers of the struct's tagged fields; a
        # non-flexible version (coordinator record keys) has no section.
        if flexible:
            tags = sorted(f["tag"] for f in fields if "tag" in f and in_range(f.get("taggedVersions"), v))
            out.append("%s<tagged> TAGGED_FIELDS_TYPE_NAME(%s)" % (prefix, ", ".join(map(str, tags))))
    def walk(fields, prefix):
        for f in fields:
            if "tag" in f or not in_range(f["versions"], v):
                continue
            name = re.sub(r"(?<!^)(?=[A-Z])", "_", f["name"]).lower()
            t = f["type"]
            nullable = in_range(f.get("nullableVersions"), v)
            inner = f.get("fields") or structs.get(t.lstrip("[]"), {}).get("fields")
            if t.startswith("[]"):
                et = t[2:]
                elem = PRIM.get(et, "STRUCT")
                # Java prints variable-length element types with their compact name.
                kind = "ARRAY<%s>" % ("COMPACT_" + elem if elem in ("STRING", "BYTES") else elem)
                out.append("%s%s %s %s" % (prefix, name, kind, str(nullable).lower()))
                if et not in PRIM:
                    walk(inner, prefix + name + "[].")
                    tagged(prefix + name + "[].", inner)
            elif t in PRIM:
                out.append("%s%s %s %s" % (prefix, name, PRIM[t], str(nullable).lower()))
            else:
                out.append("%s%s STRUCT %s" % (prefix, name, str(nullable).lower()))
                walk(inner, prefix + name + ".")
                tagged(prefix + name + ".", inner)
    walk(msg["fields"], "")
    tagged("", msg["fields"])
    return out

ok = True
for dump in sorted((HERE / "kafka-4.4-layout").glob("*.txt")):
    msg = load(HERE / (dump.stem + ".json"))
    lo, hi = (msg["validVersions"].split("-") + [msg["validVersions"]])[:2]
    mine = []
    for v in range(int(lo), int(hi) + 1):
        mine.append("=== v%d" % v)
        mine += layout(msg, v)
    theirs = dump.read_text().split("\n")
    theirs = [l for l in theirs if l]
    # A version Kafka removed (ShareFetch/ShareAcknowledge v0, KIP-932's early access) is
    # dumped as an empty section; the JSON's validVersions no longer lists it.
    theirs = [l for i, l in enumerate(theirs)
              if not (l.startswith("=== ") and (i + 1 == len(theirs) or theirs[i + 1].startswith("=== ")))]
    if mine != theirs:
        ok = False
        import difflib
        print("\n".join(difflib.unified_diff(theirs, mine, "kafka-4.4", dump.stem + ".json", lineterm="")))
print("layouts match Kafka 4.4" if ok else "MISMATCH")
sys.exit(0 if ok else 1)
