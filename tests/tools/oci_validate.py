#!/usr/bin/env python3
"""Validate OCI image-spec JSON documents against the image-spec JSON schemas, offline.

Usage:
  oci_validate.py [--schema-dir DIR] [--type KIND] FILE...
      Validate each FILE. KIND is config, manifest, index, descriptor or layout; without
      --type it comes from the file name's prefix ("manifest-foo.json" -> manifest).
  oci_validate.py --self-test VECTORS_DIR [--schema-dir DIR] [--expect-count N]
      Run every vector listed in VECTORS_DIR/INDEX.jsonl and compare with its "expect"
      (pass/fail). Prints "N passed, N failed"; exits non-zero unless all agree (and, with
      --expect-count, unless exactly N vectors were run).
  oci_validate.py [--schema-dir DIR] --samples-from PROGRAM [ARGS...]
      Run PROGRAM ARGS... TMPDIR, then validate every TMPDIR/<kind>-*.json it wrote.

The schema directory defaults to $SLIPWAY_CONFORMANCE_DIR/oci-schemas/image-spec/schema, or
to VECTORS_DIR/../schema in self-test mode.

What is checked, following upstream image-spec schema/validator.go:
  * the draft-04 schema of the media type; every schema file is registered under each of its
    aliases (upstream schema.go; conformance README section 6) and nothing is fetched from the
    network (an unknown $ref is an error);
  * "format": "uri" (urls) and "date-time" (created) with our own checkers, as gojsonschema
    does: a URI needs a scheme and RFC 3986 characters only; a date-time is RFC 3339;
  * config: every config.Env entry matches ^[^=]+=.*$;
  * descriptors (the document itself, config, layers, manifests, subject): a sha256/sha384/
    sha512 digest must have its exact lower-case hex length (other algorithms are accepted, as
    go-digest's ErrDigestUnsupported is ignored upstream); "data" must be valid padded base64.

Needs Debian's python3-jsonschema (4.10 in Debian 12; newer versions work too). If it is
missing this script fails (exit 2): it never skips.
"""

import argparse
import base64
import binascii
import datetime
import glob
import hashlib
import json
import os
import re
import subprocess
import sys
import tempfile
import warnings

try:
    import jsonschema
except ImportError:
    sys.stderr.write(
        "oci_validate: the jsonschema module is missing: install python3-jsonschema "
        "(apt-get install python3-jsonschema, or scripts/setup-deps --test)\n")
    sys.exit(2)

OCI = "https://opencontainers.org"

# Each schema file under every id it is known by (image-spec schema/schema.go).
ALIASES = {
    "config-schema.json": [OCI + "/schema/image/config"],
    "content-descriptor.json": [
        OCI + "/schema/descriptor",
        OCI + "/schema/image/content-descriptor.json",
    ],
    "defs-descriptor.json": [
        OCI + "/schema/image/descriptor/mediaType",
        OCI + "/schema/defs-descriptor.json",
        OCI + "/schema/image/defs-descriptor.json",
    ],
    "defs.json": [
        OCI + "/schema/defs.json",
        OCI + "/schema/image/defs.json",
        OCI + "/schema/image/descriptor/defs.json",
    ],
    "image-index-schema.json": [OCI + "/schema/image/index"],
    "image-layout-schema.json": [OCI + "/schema/image/layout"],
    "image-manifest-schema.json": [OCI + "/schema/image/manifest"],
}

MEDIA_TYPES = {
    "application/vnd.oci.image.manifest.v1+json": "manifest",
    "application/vnd.oci.image.index.v1+json": "index",
    "application/vnd.oci.image.config.v1+json": "config",
    "application/vnd.oci.descriptor.v1+json": "descriptor",
    "application/vnd.oci.layout.header.v1+json": "layout",
}

KIND_SCHEMA = {
    "manifest": "image-manifest-schema.json",
    "index": "image-index-schema.json",
    "config": "config-schema.json",
    "descriptor": "content-descriptor.json",
    "layout": "image-layout-schema.json",
}

ENV_RE = re.compile(r"^[^=]+=.*$", re.DOTALL)
HEX_LEN = {"sha256": 64, "sha384": 96, "sha512": 128}
URI_RE = re.compile(
    r"^[A-Za-z][A-Za-z0-9+.-]*:(?:[A-Za-z0-9\-._~:/?#\[\]@!$&'()*+,;=]|%[0-9A-Fa-f]{2})*$")
DATE_TIME_RE = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(\.\d+)?([Zz]|[+-](\d{2}):(\d{2}))$")


def fail(msg):
    sys.stderr.write("oci_validate: %s\n" % msg)
    sys.exit(2)


def is_uri(value):
    if not isinstance(value, str):
        return True
    return bool(URI_RE.match(value))


def is_date_time(value):
    if not isinstance(value, str):
        return True
    m = DATE_TIME_RE.match(value)
    if not m:
        return False
    y, mo, d, h, mi, s = (int(m.group(i)) for i in range(1, 7))
    try:
        datetime.datetime(y, mo, d, h, mi, s)
    except ValueError:
        return False
    if m.group(9) is not None and (int(m.group(9)) > 23 or int(m.group(10)) > 59):
        return False
    return True


def format_checker():
    fc = jsonschema.FormatChecker(formats=())
    fc.checks("uri")(is_uri)
    fc.checks("date-time")(is_date_time)
    return fc


def draft4_id_of(schema):
    if isinstance(schema, dict) and "$ref" not in schema:
        return schema.get("id", "")
    return ""


def ignore_ref_siblings(schema):
    ref = schema.get("$ref")
    return [("$ref", ref)] if ref is not None else schema.items()


class Schemas:
    """The seven schemas, registered under their aliases, and one validator per kind."""

    def __init__(self, schema_dir):
        if not os.path.isdir(schema_dir):
            fail("schema directory %s does not exist" % schema_dir)
        self.docs = {}
        for name in ALIASES:
            path = os.path.join(schema_dir, name)
            try:
                with open(path, encoding="utf-8") as f:
                    self.docs[name] = json.load(f)
            except (OSError, ValueError) as e:
                fail("cannot load schema %s: %s" % (path, e))
        self.checker = format_checker()
        self.validators = {}

    def _validator(self, kind):
        if kind in self.validators:
            return self.validators[kind]
        schema = self.docs[KIND_SCHEMA[kind]]
        cls = jsonschema.Draft4Validator
        try:
            from referencing import Registry, Resource  # jsonschema >= 4.18
            from referencing.jsonschema import DRAFT4
        except ImportError:
            Registry = None
        if Registry is not None:
            def refuse(uri):
                raise LookupError("unknown schema %s (not fetched: offline)" % uri)
            pairs = []
            for name, aliases in ALIASES.items():
                res = Resource.from_contents(self.docs[name], default_specification=DRAFT4)
                pairs += [(a, res) for a in aliases]
            registry = Registry(retrieve=refuse).with_resources(pairs)
            v = cls(schema, registry=registry, format_checker=self.checker)
        else:
            # jsonschema < 4.18 honours an "id" next to "$ref"; draft 4 (JSON Reference) says
            # every sibling of "$ref" is ignored, and the aliases above assume that.
            cls = jsonschema.validators.create(
                meta_schema=cls.META_SCHEMA,
                validators=cls.VALIDATORS,
                type_checker=cls.TYPE_CHECKER,
                format_checker=self.checker,
                id_of=draft4_id_of,
                applicable_validators=ignore_ref_siblings,
            )
            # Each schema file says "$schema": draft-04, which would make jsonschema switch back
            # to its own Draft4Validator (and its id handling) in every file; drop it.
            docs = {n: {k: v for k, v in d.items() if k != "$schema"} for n, d in self.docs.items()}
            schema = docs[KIND_SCHEMA[kind]]
            store = {}
            for name, aliases in ALIASES.items():
                for a in aliases:
                    store[a] = docs[name]

            def refuse(uri):
                raise jsonschema.RefResolutionError(
                    "unknown schema %s (not fetched: offline)" % uri)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", DeprecationWarning)
                resolver = jsonschema.RefResolver(schema.get("id", ""), schema, store=store,
                                                  handlers={"http": refuse, "https": refuse})
            v = cls(schema, resolver=resolver, format_checker=self.checker)
        self.validators[kind] = v
        return v

    def validate(self, kind, doc):
        """A list of error strings (empty when valid)."""
        errors = []
        try:
            for e in sorted(self._validator(kind).iter_errors(doc), key=lambda e: list(e.path)):
                where = "/".join(str(p) for p in e.path) or "(document)"
                errors.append("%s: %s" % (where, e.message))
        except (jsonschema.RefResolutionError, LookupError) as e:
            fail("schema reference problem: %s" % e)
        errors += extra_checks(kind, doc)
        return errors


def descriptors(kind, doc):
    """(path, descriptor) pairs of the descriptors in a document."""
    if not isinstance(doc, dict):
        return []
    out = []
    if kind == "descriptor":
        out.append(("(document)", doc))
    if kind == "manifest":
        out.append(("config", doc.get("config")))
        layers = doc.get("layers")
        if isinstance(layers, list):
            out += [("layers/%d" % i, d) for i, d in enumerate(layers)]
    if kind == "index":
        ms = doc.get("manifests")
        if isinstance(ms, list):
            out += [("manifests/%d" % i, d) for i, d in enumerate(ms)]
    if kind in ("manifest", "index") and "subject" in doc:
        out.append(("subject", doc.get("subject")))
    return [(p, d) for p, d in out if isinstance(d, dict)]


def extra_checks(kind, doc):
    errors = []
    if kind == "config" and isinstance(doc, dict):
        env = (doc.get("config") or {}).get("Env") if isinstance(doc.get("config"), dict) else None
        if isinstance(env, list):
            for i, e in enumerate(env):
                if isinstance(e, str) and not ENV_RE.match(e):
                    errors.append("config/Env/%d: %r is not KEY=value" % (i, e))
    for path, d in descriptors(kind, doc):
        dg = d.get("digest")
        if isinstance(dg, str) and ":" in dg:
            alg, enc = dg.split(":", 1)
            n = HEX_LEN.get(alg)
            if n is not None and not re.fullmatch("[a-f0-9]{%d}" % n, enc):
                errors.append("%s/digest: %r: %s needs %d lower-case hex digits"
                              % (path, dg, alg, n))
        data = d.get("data")
        if isinstance(data, str):
            try:
                base64.b64decode(data, validate=True)
            except (binascii.Error, ValueError):
                errors.append("%s/data: not valid padded base64" % path)
    return errors


def load_json(path):
    with open(path, "rb") as f:
        raw = f.read()
    return raw, json.loads(raw.decode("utf-8"))


def kind_from_name(path):
    base = os.path.basename(path)
    for kind in KIND_SCHEMA:
        if base.startswith(kind + "-") or base == kind + ".json":
            return kind
    return None


def validate_files(schemas, files, kind=None):
    bad = 0
    for path in files:
        k = kind or kind_from_name(path)
        if k is None:
            print("FAIL %s: cannot tell the document kind from the name (use --type)" % path)
            bad += 1
            continue
        try:
            _, doc = load_json(path)
        except (OSError, ValueError) as e:
            print("FAIL %s: %s" % (path, e))
            bad += 1
            continue
        errors = schemas.validate(k, doc)
        if errors:
            bad += 1
            print("FAIL %s (%s):" % (path, k))
            for e in errors:
                print("    " + e)
        else:
            print("ok   %s (%s)" % (path, k))
    return bad


def self_test(schemas, vectors_dir, expect_count):
    index = os.path.join(vectors_dir, "INDEX.jsonl")
    try:
        with open(index, encoding="utf-8") as f:
            records = [json.loads(line) for line in f if line.strip()]
    except (OSError, ValueError) as e:
        fail("cannot read %s: %s" % (index, e))
    passed = failed = 0
    for rec in records:
        kind = MEDIA_TYPES.get(rec.get("validator_media_type"))
        name = rec.get("validate_file") or rec["file"]
        problems = []
        if kind is None:
            problems.append("unknown media type %r" % rec.get("validator_media_type"))
        else:
            try:
                _, doc = load_json(os.path.join(vectors_dir, name))
                errors = schemas.validate(kind, doc)
            except (OSError, ValueError) as e:
                errors = ["cannot parse: %s" % e]
            got = "fail" if errors else "pass"
            if got != rec["expect"]:
                problems.append("expected %s, got %s%s" % (
                    rec["expect"], got, (": " + "; ".join(errors)) if errors else ""))
        want_digest = rec.get("expected_sha256_of_file_bytes")
        if want_digest:
            with open(os.path.join(vectors_dir, rec["file"]), "rb") as f:
                have = "sha256:" + hashlib.sha256(f.read()).hexdigest()
            if have != want_digest:
                problems.append("file digest %s != %s" % (have, want_digest))
        if problems:
            failed += 1
            print("FAIL %s: %s" % (rec["file"], "; ".join(problems)))
        else:
            passed += 1
    print("%d passed, %d failed" % (passed, failed))
    if expect_count is not None and passed + failed != expect_count:
        print("expected %d vectors, found %d" % (expect_count, passed + failed))
        return 1
    return 1 if failed else 0


def samples(schemas, argv):
    if not argv:
        fail("--samples-from needs a program")
    with tempfile.TemporaryDirectory(prefix="oci-samples-") as tmp:
        r = subprocess.run(argv + [tmp])
        if r.returncode != 0:
            print("FAIL %s exited with %d" % (" ".join(argv), r.returncode))
            return 1
        files = sorted(glob.glob(os.path.join(tmp, "*.json")))
        if not files:
            print("FAIL %s wrote no *.json files" % " ".join(argv))
            return 1
        bad = validate_files(schemas, files)
        print("%d samples, %d invalid" % (len(files), bad))
        return 1 if bad else 0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--schema-dir")
    ap.add_argument("--type", choices=sorted(KIND_SCHEMA))
    ap.add_argument("--self-test", metavar="VECTORS_DIR")
    ap.add_argument("--expect-count", type=int)
    ap.add_argument("--samples-from", nargs=argparse.REMAINDER, metavar="PROGRAM")
    ap.add_argument("files", nargs="*")
    args = ap.parse_args()

    schema_dir = args.schema_dir
    if not schema_dir and args.self_test:
        schema_dir = os.path.join(args.self_test, os.pardir, "schema")
    if not schema_dir and os.environ.get("SLIPWAY_CONFORMANCE_DIR"):
        schema_dir = os.path.join(os.environ["SLIPWAY_CONFORMANCE_DIR"], "oci-schemas",
                                  "image-spec", "schema")
    if not schema_dir:
        fail("no schema directory: pass --schema-dir or set SLIPWAY_CONFORMANCE_DIR")
    schemas = Schemas(os.path.normpath(schema_dir))

    if args.self_test:
        return self_test(schemas, args.self_test, args.expect_count)
    if args.samples_from is not None:
        return samples(schemas, args.samples_from)
    if not args.files:
        ap.error("nothing to validate")
    return 1 if validate_files(schemas, args.files, args.type) else 0


if __name__ == "__main__":
    sys.exit(main())
