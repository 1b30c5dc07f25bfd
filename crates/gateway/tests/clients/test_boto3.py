"""The S3 gateway through boto3, a real client: every operation it serves and their errors.

Run by scripts/s3-suite.sh, which starts the gateway (and a mount of the same volume) and
sets GATEWAY_URL, GATEWAY_KEY, GATEWAY_SECRET and, for the one-namespace tests, MOUNT_DIR
(and DATENLORD_BIN, DATENLORD_HOME for the tests that run `datenlord gc`).
"""

import base64
import concurrent.futures
import hashlib
import os
import socket
import subprocess
import time
import unittest
import urllib.error
import urllib.parse
import urllib.request
import uuid
import zlib

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

URL = os.environ["GATEWAY_URL"]
KEY = os.environ["GATEWAY_KEY"]
SECRET = os.environ["GATEWAY_SECRET"]
OTHER_KEY = os.environ.get("GATEWAY_OTHER_KEY", "other")
OTHER_SECRET = os.environ.get("GATEWAY_OTHER_SECRET", "")
MOUNT = os.environ.get("MOUNT_DIR")
MIB = 1 << 20


def client(key=KEY, secret=SECRET, **config):
    return boto3.client(
        "s3",
        endpoint_url=URL,
        aws_access_key_id=key,
        aws_secret_access_key=secret,
        region_name="us-east-1",
        config=Config(
            s3={"addressing_style": "path"},
            retries={"max_attempts": 1},
            **config,
        ),
    )


S3 = client()


def new_bucket():
    name = "t-" + uuid.uuid4().hex[:12]
    S3.create_bucket(Bucket=name)
    return name


def error_of(call, *args, **kwargs):
    try:
        call(*args, **kwargs)
    except ClientError as err:
        return err.response["Error"]["Code"], err.response["ResponseMetadata"]["HTTPStatusCode"]
    raise AssertionError(f"{call.__name__} succeeded")


def keys_of(response):
    return [o["Key"] for o in response.get("Contents", [])]


def prefixes_of(response):
    return [p["Prefix"] for p in response.get("CommonPrefixes", [])]


def crc32c(data):
    crc = 0xFFFFFFFF
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ (0x82F63B78 if crc & 1 else 0)
    return crc ^ 0xFFFFFFFF


def md5_hex(data):
    return hashlib.md5(data).hexdigest()


class Buckets(unittest.TestCase):
    def test_create_list_head_delete(self):
        name = new_bucket()
        self.assertIn(name, [b["Name"] for b in S3.list_buckets()["Buckets"]])
        S3.head_bucket(Bucket=name)
        self.assertIsNone(S3.get_bucket_location(Bucket=name).get("LocationConstraint"))
        S3.create_bucket(Bucket=name)  # us-east-1: the owner may ask again
        self.assertEqual(error_of(S3.create_bucket, Bucket=name, ACL="public-read"), ("BucketAlreadyExists", 409))
        S3.put_object(Bucket=name, Key="k", Body=b"x")
        self.assertEqual(error_of(S3.delete_bucket, Bucket=name), ("BucketNotEmpty", 409))
        S3.delete_object(Bucket=name, Key="k")
        S3.delete_bucket(Bucket=name)
        self.assertEqual(error_of(S3.head_bucket, Bucket=name)[1], 404)
        self.assertEqual(error_of(S3.delete_bucket, Bucket=name), ("NoSuchBucket", 404))
        self.assertEqual(error_of(S3.list_objects_v2, Bucket=name), ("NoSuchBucket", 404))

    def test_bucket_listings_page(self):
        names = sorted(new_bucket() for _ in range(3))
        seen, token = [], ""
        while True:
            page = S3.list_buckets(MaxBuckets=1, ContinuationToken=token, Prefix="t-")
            seen += [b["Name"] for b in page["Buckets"]]
            token = page.get("ContinuationToken")
            if not token:
                break
        self.assertTrue(set(names) <= set(seen))
        self.assertEqual(seen, sorted(seen))

    def test_bucket_names_follow_the_rules(self):
        for bad in ["ab", "UPPER", "under_score", "-dash", "a..b", "192.168.0.1"]:
            code, status = error_of(S3.create_bucket, Bucket=bad)
            self.assertEqual((code, status), ("InvalidBucketName", 400), bad)


class Objects(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.bucket = new_bucket()

    def test_put_get_head_with_metadata(self):
        body = os.urandom(3 * MIB + 17)
        put = S3.put_object(
            Bucket=self.bucket,
            Key="dir/sub/blob.bin",
            Body=body,
            ContentType="application/x-test",
            CacheControl="max-age=60",
            ContentDisposition='attachment; filename="b.bin"',
            ContentEncoding="identity",
            ContentLanguage="en",
            Metadata={"owner": "ana", "purpose": "test"},
        )
        self.assertEqual(put["ETag"], f'"{md5_hex(body)}"')
        got = S3.get_object(Bucket=self.bucket, Key="dir/sub/blob.bin")
        self.assertEqual(got["Body"].read(), body)
        self.assertEqual(got["ETag"], put["ETag"])
        self.assertEqual(got["ContentType"], "application/x-test")
        self.assertEqual(got["CacheControl"], "max-age=60")
        self.assertEqual(got["ContentDisposition"], 'attachment; filename="b.bin"')
        self.assertEqual(got["ContentLanguage"], "en")
        self.assertEqual(got["Metadata"], {"owner": "ana", "purpose": "test"})
        head = S3.head_object(Bucket=self.bucket, Key="dir/sub/blob.bin")
        self.assertEqual(head["ContentLength"], len(body))
        self.assertEqual(head["ETag"], put["ETag"])
        self.assertEqual(error_of(S3.get_object, Bucket=self.bucket, Key="nope"), ("NoSuchKey", 404))
        self.assertEqual(error_of(S3.head_object, Bucket=self.bucket, Key="nope")[1], 404)
        # A directory on the path is no object.
        self.assertEqual(error_of(S3.get_object, Bucket=self.bucket, Key="dir/sub")[0], "NoSuchKey")

    def test_overwrite_replaces_whole(self):
        S3.put_object(Bucket=self.bucket, Key="over", Body=b"a" * 1000)
        S3.put_object(Bucket=self.bucket, Key="over", Body=b"b" * 10)
        self.assertEqual(S3.get_object(Bucket=self.bucket, Key="over")["Body"].read(), b"b" * 10)

    def test_empty_objects_and_response_overrides(self):
        S3.put_object(Bucket=self.bucket, Key="empty", Body=b"")
        got = S3.get_object(
            Bucket=self.bucket,
            Key="empty",
            ResponseContentType="text/x-override",
            ResponseCacheControl="no-cache",
        )
        self.assertEqual(got["Body"].read(), b"")
        self.assertEqual(got["ContentType"], "text/x-override")
        self.assertEqual(got["CacheControl"], "no-cache")
        self.assertEqual(got["ETag"], '"d41d8cd98f00b204e9800998ecf8427e"')

    def test_ranges(self):
        body = bytes(range(256)) * 40
        S3.put_object(Bucket=self.bucket, Key="ranged", Body=body)
        get = lambda r: S3.get_object(Bucket=self.bucket, Key="ranged", Range=r)
        first = get("bytes=0-9")
        self.assertEqual(first["Body"].read(), body[:10])
        self.assertEqual(first["ContentRange"], f"bytes 0-9/{len(body)}")
        self.assertEqual(first["ResponseMetadata"]["HTTPStatusCode"], 206)
        self.assertEqual(get("bytes=-5")["Body"].read(), body[-5:])
        self.assertEqual(get("bytes=10000-")["Body"].read(), body[10000:])
        self.assertEqual(get("bytes=100-99999")["Body"].read(), body[100:])
        self.assertEqual(error_of(get, f"bytes={len(body)}-")[0], "InvalidRange")
        self.assertEqual(error_of(get, f"bytes={len(body)}-")[1], 416)

    def test_conditional_requests(self):
        put = S3.put_object(Bucket=self.bucket, Key="cond", Body=b"cond")
        etag = put["ETag"]
        get = lambda **kw: S3.get_object(Bucket=self.bucket, Key="cond", **kw)
        self.assertEqual(get(IfMatch=etag)["Body"].read(), b"cond")
        self.assertEqual(error_of(get, IfMatch='"0000"'), ("PreconditionFailed", 412))
        self.assertEqual(error_of(get, IfNoneMatch=etag)[1], 304)
        self.assertEqual(get(IfNoneMatch='"0000"')["Body"].read(), b"cond")
        past = time.time() - 3600
        future = time.time() + 3600
        from datetime import datetime, timezone

        at = lambda t: datetime.fromtimestamp(t, timezone.utc)
        self.assertEqual(error_of(get, IfModifiedSince=at(future))[1], 304)
        self.assertEqual(get(IfModifiedSince=at(past))["Body"].read(), b"cond")
        self.assertEqual(error_of(get, IfUnmodifiedSince=at(past)), ("PreconditionFailed", 412))
        head = lambda **kw: S3.head_object(Bucket=self.bucket, Key="cond", **kw)
        self.assertEqual(error_of(head, IfMatch='"0000"')[1], 412)
        # Conditional writes: If-None-Match: * refuses to overwrite.
        self.assertEqual(
            error_of(S3.put_object, Bucket=self.bucket, Key="cond", Body=b"x", IfNoneMatch="*"),
            ("PreconditionFailed", 412),
        )
        S3.put_object(Bucket=self.bucket, Key="cond-new", Body=b"x", IfNoneMatch="*")

    def test_content_md5_and_checksums_are_verified(self):
        body = b"checked bytes"
        good = base64.b64encode(hashlib.md5(body).digest()).decode()
        S3.put_object(Bucket=self.bucket, Key="md5", Body=body, ContentMD5=good)
        bad = base64.b64encode(hashlib.md5(b"other").digest()).decode()
        self.assertEqual(
            error_of(S3.put_object, Bucket=self.bucket, Key="md5", Body=body, ContentMD5=bad),
            ("BadDigest", 400),
        )
        self.assertEqual(S3.get_object(Bucket=self.bucket, Key="md5")["Body"].read(), body)
        # CRC32C needs botocore[crt]; its header is checked below.
        for algorithm in ["CRC32", "SHA1", "SHA256"]:
            put = S3.put_object(
                Bucket=self.bucket, Key="sum-" + algorithm, Body=body, ChecksumAlgorithm=algorithm
            )
            self.assertIn("Checksum" + algorithm, put, algorithm)
        crc = base64.b64encode(zlib.crc32(body).to_bytes(4, "big")).decode()
        S3.put_object(Bucket=self.bucket, Key="crc", Body=body, ChecksumCRC32=crc)
        c = base64.b64encode(crc32c(body).to_bytes(4, "big")).decode()
        S3.put_object(Bucket=self.bucket, Key="crc32c", Body=body, ChecksumCRC32C=c)
        wrong = base64.b64encode((zlib.crc32(body) ^ 1).to_bytes(4, "big")).decode()
        self.assertEqual(
            error_of(S3.put_object, Bucket=self.bucket, Key="crc", Body=body, ChecksumCRC32=wrong)[0],
            "BadDigest",
        )

    def test_keys_no_path_can_hold(self):
        put = lambda key: S3.put_object(Bucket=self.bucket, Key=key, Body=b"x")
        self.assertEqual(error_of(put, "a//b"), ("InvalidArgument", 400))
        self.assertEqual(error_of(put, "a/./b"), ("InvalidArgument", 400))
        self.assertEqual(error_of(put, "x/../y"), ("InvalidArgument", 400))
        self.assertEqual(error_of(put, "s" * 256)[0], "KeyTooLongError")
        put("s" * 255)
        put("unicode/ü € 日本")
        self.assertEqual(
            S3.get_object(Bucket=self.bucket, Key="unicode/ü € 日本")["Body"].read(), b"x"
        )

    def test_a_file_and_a_directory_cannot_share_a_name(self):
        S3.put_object(Bucket=self.bucket, Key="clash/dir/leaf", Body=b"x")
        code, status = error_of(S3.put_object, Bucket=self.bucket, Key="clash/dir", Body=b"x")
        self.assertEqual((code, status), ("KeyConflict", 409))
        S3.put_object(Bucket=self.bucket, Key="clash/file", Body=b"x")
        code, status = error_of(S3.put_object, Bucket=self.bucket, Key="clash/file/leaf", Body=b"x")
        self.assertEqual((code, status), ("KeyConflict", 409))
        self.assertEqual(S3.get_object(Bucket=self.bucket, Key="clash/file")["Body"].read(), b"x")

    def test_directory_objects(self):
        S3.put_object(Bucket=self.bucket, Key="folder/", Body=b"")
        listed = S3.list_objects_v2(Bucket=self.bucket, Prefix="folder")
        self.assertEqual(keys_of(listed), ["folder/"])
        self.assertEqual(S3.head_object(Bucket=self.bucket, Key="folder/")["ContentLength"], 0)
        self.assertEqual(
            error_of(S3.put_object, Bucket=self.bucket, Key="folder2/", Body=b"data")[0],
            "InvalidArgument",
        )
        S3.put_object(Bucket=self.bucket, Key="folder/inside", Body=b"x")
        S3.delete_object(Bucket=self.bucket, Key="folder/")
        # The marker went; the object inside stays.
        self.assertEqual(keys_of(S3.list_objects_v2(Bucket=self.bucket, Prefix="folder")), ["folder/inside"])

    def test_deletes(self):
        S3.put_object(Bucket=self.bucket, Key="del/a/b/c", Body=b"x")
        S3.delete_object(Bucket=self.bucket, Key="del/a/b/c")
        # The directories made for the key went with it.
        self.assertEqual(keys_of(S3.list_objects_v2(Bucket=self.bucket, Prefix="del")), [])
        self.assertEqual(prefixes_of(S3.list_objects_v2(Bucket=self.bucket, Prefix="del", Delimiter="/")), [])
        # Deleting what is not there succeeds.
        status = S3.delete_object(Bucket=self.bucket, Key="del/none")["ResponseMetadata"]["HTTPStatusCode"]
        self.assertEqual(status, 204)
        for i in range(5):
            S3.put_object(Bucket=self.bucket, Key=f"batch/{i}", Body=b"x")
        out = S3.delete_objects(
            Bucket=self.bucket,
            Delete={"Objects": [{"Key": f"batch/{i}"} for i in range(5)] + [{"Key": "a//b"}]},
        )
        self.assertEqual(sorted(d["Key"] for d in out["Deleted"]), [f"batch/{i}" for i in range(5)])
        self.assertEqual([(e["Key"], e["Code"]) for e in out["Errors"]], [("a//b", "InvalidArgument")])
        S3.put_object(Bucket=self.bucket, Key="batch/q", Body=b"x")
        quiet = S3.delete_objects(Bucket=self.bucket, Delete={"Objects": [{"Key": "batch/q"}], "Quiet": True})
        self.assertEqual(quiet.get("Deleted", []), [])
        self.assertEqual(keys_of(S3.list_objects_v2(Bucket=self.bucket, Prefix="batch")), [])

    def test_copies(self):
        body = os.urandom(2 * MIB)
        S3.put_object(Bucket=self.bucket, Key="src", Body=body, Metadata={"m": "1"}, ContentType="a/b")
        S3.copy_object(Bucket=self.bucket, Key="copies/dst", CopySource={"Bucket": self.bucket, "Key": "src"})
        got = S3.get_object(Bucket=self.bucket, Key="copies/dst")
        self.assertEqual(got["Body"].read(), body)
        self.assertEqual(got["Metadata"], {"m": "1"})
        self.assertEqual(got["ContentType"], "a/b")
        self.assertEqual(got["ETag"], f'"{md5_hex(body)}"')
        S3.copy_object(
            Bucket=self.bucket,
            Key="copies/replaced",
            CopySource={"Bucket": self.bucket, "Key": "src"},
            MetadataDirective="REPLACE",
            Metadata={"m": "2"},
            ContentType="c/d",
        )
        got = S3.head_object(Bucket=self.bucket, Key="copies/replaced")
        self.assertEqual((got["Metadata"], got["ContentType"]), ({"m": "2"}, "c/d"))
        self.assertEqual(
            error_of(S3.copy_object, Bucket=self.bucket, Key="src", CopySource={"Bucket": self.bucket, "Key": "src"})[0],
            "InvalidRequest",
        )
        self.assertEqual(
            error_of(
                S3.copy_object,
                Bucket=self.bucket,
                Key="copies/x",
                CopySource={"Bucket": self.bucket, "Key": "src"},
                CopySourceIfMatch='"0000"',
            ),
            ("PreconditionFailed", 412),
        )
        self.assertEqual(
            error_of(S3.copy_object, Bucket=self.bucket, Key="c", CopySource={"Bucket": self.bucket, "Key": "none"})[0],
            "NoSuchKey",
        )
        # The source may change afterwards; the copy keeps its bytes.
        S3.put_object(Bucket=self.bucket, Key="src", Body=b"new")
        self.assertEqual(S3.get_object(Bucket=self.bucket, Key="copies/dst")["Body"].read(), body)


class TagsAndAttributes(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.bucket = new_bucket()

    def test_tags(self):
        S3.put_object(Bucket=self.bucket, Key="tagged", Body=b"x", Tagging="team=storage&tier=hot%20one")
        tags = S3.get_object_tagging(Bucket=self.bucket, Key="tagged")["TagSet"]
        self.assertEqual(sorted((t["Key"], t["Value"]) for t in tags), [("team", "storage"), ("tier", "hot one")])
        self.assertEqual(S3.get_object(Bucket=self.bucket, Key="tagged")["TagCount"], 2)
        S3.put_object_tagging(Bucket=self.bucket, Key="tagged", Tagging={"TagSet": [{"Key": "only", "Value": "1"}]})
        self.assertEqual(S3.get_object_tagging(Bucket=self.bucket, Key="tagged")["TagSet"], [{"Key": "only", "Value": "1"}])
        S3.copy_object(Bucket=self.bucket, Key="tagged-copy", CopySource={"Bucket": self.bucket, "Key": "tagged"})
        self.assertEqual(S3.get_object_tagging(Bucket=self.bucket, Key="tagged-copy")["TagSet"], [{"Key": "only", "Value": "1"}])
        S3.delete_object_tagging(Bucket=self.bucket, Key="tagged")
        self.assertEqual(S3.get_object_tagging(Bucket=self.bucket, Key="tagged")["TagSet"], [])
        too_many = [{"Key": f"k{i}", "Value": "v"} for i in range(11)]
        self.assertEqual(
            error_of(S3.put_object_tagging, Bucket=self.bucket, Key="tagged", Tagging={"TagSet": too_many})[0],
            "InvalidTag",
        )
        self.assertEqual(error_of(S3.get_object_tagging, Bucket=self.bucket, Key="none")[0], "NoSuchKey")

    def test_attributes_versions_and_versioning(self):
        body = b"attributes"
        S3.put_object(Bucket=self.bucket, Key="attrs", Body=body)
        out = S3.get_object_attributes(
            Bucket=self.bucket, Key="attrs", ObjectAttributes=["ETag", "ObjectSize", "StorageClass"]
        )
        # S3 sends this ETag bare, unlike every other.
        self.assertEqual((out["ETag"], out["ObjectSize"], out["StorageClass"]), (md5_hex(body), len(body), "STANDARD"))
        self.assertNotIn("Status", S3.get_bucket_versioning(Bucket=self.bucket))
        versions = S3.list_object_versions(Bucket=self.bucket, Prefix="attrs")["Versions"]
        self.assertEqual([(v["Key"], v["VersionId"], v["IsLatest"]) for v in versions], [("attrs", "null", True)])


class Listing(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.bucket = new_bucket()
        cls.keys = ["a/b", "a-c", "a.d", "a0", "a/c/x", "b b", "b+b", "z/y/x/w"]
        for key in cls.keys:
            S3.put_object(Bucket=cls.bucket, Key=key, Body=b"x")

    def test_byte_order_not_directory_order(self):
        got = keys_of(S3.list_objects_v2(Bucket=self.bucket))
        self.assertEqual(got, sorted(self.keys, key=lambda k: k.encode()))

    def test_delimiter_and_prefix(self):
        out = S3.list_objects_v2(Bucket=self.bucket, Delimiter="/")
        self.assertEqual(prefixes_of(out), ["a/", "z/"])
        self.assertEqual(keys_of(out), ["a-c", "a.d", "a0", "b b", "b+b"])
        out = S3.list_objects_v2(Bucket=self.bucket, Prefix="a/", Delimiter="/")
        self.assertEqual(keys_of(out), ["a/b"])
        self.assertEqual(prefixes_of(out), ["a/c/"])
        out = S3.list_objects_v2(Bucket=self.bucket, Prefix="a")
        self.assertEqual(len(keys_of(out)), 5)

    def test_pages_v1_and_v2(self):
        every = sorted(self.keys, key=lambda k: k.encode())
        seen, token = [], None
        while True:
            kw = {"ContinuationToken": token} if token else {}
            out = S3.list_objects_v2(Bucket=self.bucket, MaxKeys=3, **kw)
            seen += keys_of(out)
            self.assertEqual(out["KeyCount"], len(keys_of(out)))
            if not out["IsTruncated"]:
                break
            token = out["NextContinuationToken"]
        self.assertEqual(seen, every)
        paginator = S3.get_paginator("list_objects")
        pages = paginator.paginate(Bucket=self.bucket, PaginationConfig={"PageSize": 2})
        self.assertEqual([k for p in pages for k in keys_of(p)], every)
        pages = paginator.paginate(Bucket=self.bucket, Delimiter="/", PaginationConfig={"PageSize": 1})
        flat = [(keys_of(p), prefixes_of(p)) for p in pages]
        self.assertEqual(sum((k for k, _ in flat), []), ["a-c", "a.d", "a0", "b b", "b+b"])
        self.assertEqual(sum((p for _, p in flat), []), ["a/", "z/"])
        out = S3.list_objects_v2(Bucket=self.bucket, StartAfter="a0")
        self.assertEqual(keys_of(out), [k for k in every if k > "a0"])
        self.assertEqual(
            error_of(S3.list_objects_v2, Bucket=self.bucket, ContinuationToken="garbage")[0],
            "InvalidArgument",
        )

    def test_url_encoding(self):
        # boto3 decodes keys only when it asked for the encoding itself.
        out = S3.list_objects_v2(Bucket=self.bucket, Prefix="b", EncodingType="url")
        self.assertEqual(keys_of(out), ["b%20b", "b%2Bb"])
        out = S3.list_objects(Bucket=self.bucket, Prefix="a", Delimiter="/", EncodingType="url")
        self.assertEqual(prefixes_of(out), ["a/"])


class Multipart(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.bucket = new_bucket()

    def test_upload_list_complete(self):
        parts_data = [os.urandom(5 * MIB), os.urandom(5 * MIB), os.urandom(MIB + 3)]
        up = S3.create_multipart_upload(Bucket=self.bucket, Key="big/obj", ContentType="x/y", Metadata={"k": "v"})
        uid = up["UploadId"]
        self.assertIn(uid, [u["UploadId"] for u in S3.list_multipart_uploads(Bucket=self.bucket)["Uploads"]])
        etags = []
        for i, data in enumerate(parts_data, 1):
            etags.append(S3.upload_part(Bucket=self.bucket, Key="big/obj", UploadId=uid, PartNumber=i, Body=data)["ETag"])
        # A part sent again replaces the first one.
        parts_data[1] = os.urandom(5 * MIB)
        etags[1] = S3.upload_part(Bucket=self.bucket, Key="big/obj", UploadId=uid, PartNumber=2, Body=parts_data[1])["ETag"]
        listed = S3.list_parts(Bucket=self.bucket, Key="big/obj", UploadId=uid)
        self.assertEqual([p["PartNumber"] for p in listed["Parts"]], [1, 2, 3])
        self.assertEqual([p["ETag"] for p in listed["Parts"]], etags)
        page = S3.list_parts(Bucket=self.bucket, Key="big/obj", UploadId=uid, MaxParts=2)
        self.assertTrue(page["IsTruncated"])
        self.assertEqual(page["NextPartNumberMarker"], 2)
        self.assertEqual(error_of(S3.head_object, Bucket=self.bucket, Key="big/obj")[1], 404)
        done = S3.complete_multipart_upload(
            Bucket=self.bucket,
            Key="big/obj",
            UploadId=uid,
            MultipartUpload={"Parts": [{"PartNumber": i + 1, "ETag": e} for i, e in enumerate(etags)]},
        )
        want = hashlib.md5(b"".join(bytes.fromhex(e.strip('"')) for e in etags)).hexdigest() + "-3"
        self.assertEqual(done["ETag"], f'"{want}"')
        got = S3.get_object(Bucket=self.bucket, Key="big/obj")
        self.assertEqual(got["Body"].read(), b"".join(parts_data))
        self.assertEqual((got["ContentType"], got["Metadata"]), ("x/y", {"k": "v"}))
        second = S3.get_object(Bucket=self.bucket, Key="big/obj", PartNumber=2)
        self.assertEqual(second["Body"].read(), parts_data[1])
        self.assertEqual(second["PartsCount"], 3)
        self.assertEqual(
            error_of(S3.list_parts, Bucket=self.bucket, Key="big/obj", UploadId=uid)[0], "NoSuchUpload"
        )

    def test_part_rules(self):
        uid = S3.create_multipart_upload(Bucket=self.bucket, Key="rules")["UploadId"]
        small = S3.upload_part(Bucket=self.bucket, Key="rules", UploadId=uid, PartNumber=1, Body=b"tiny")["ETag"]
        last = S3.upload_part(Bucket=self.bucket, Key="rules", UploadId=uid, PartNumber=2, Body=b"end")["ETag"]
        complete = lambda parts: S3.complete_multipart_upload(
            Bucket=self.bucket, Key="rules", UploadId=uid, MultipartUpload={"Parts": parts}
        )
        self.assertEqual(
            error_of(complete, [{"PartNumber": 1, "ETag": small}, {"PartNumber": 2, "ETag": last}])[0],
            "EntityTooSmall",
        )
        self.assertEqual(
            error_of(complete, [{"PartNumber": 2, "ETag": last}, {"PartNumber": 1, "ETag": small}])[0],
            "InvalidPartOrder",
        )
        self.assertEqual(error_of(complete, [{"PartNumber": 1, "ETag": '"00000000000000000000000000000000"'}])[0], "InvalidPart")
        self.assertEqual(
            error_of(S3.upload_part, Bucket=self.bucket, Key="rules", UploadId=uid, PartNumber=10001, Body=b"x")[0],
            "InvalidArgument",
        )
        self.assertEqual(
            error_of(S3.upload_part, Bucket=self.bucket, Key="other", UploadId=uid, PartNumber=1, Body=b"x")[0],
            "NoSuchUpload",
        )
        # A single small part is a whole object.
        complete([{"PartNumber": 1, "ETag": small}])
        self.assertEqual(S3.get_object(Bucket=self.bucket, Key="rules")["Body"].read(), b"tiny")

    def test_abort(self):
        uid = S3.create_multipart_upload(Bucket=self.bucket, Key="aborted")["UploadId"]
        S3.upload_part(Bucket=self.bucket, Key="aborted", UploadId=uid, PartNumber=1, Body=b"x" * 100)
        S3.abort_multipart_upload(Bucket=self.bucket, Key="aborted", UploadId=uid)
        self.assertEqual(
            error_of(S3.abort_multipart_upload, Bucket=self.bucket, Key="aborted", UploadId=uid)[0], "NoSuchUpload"
        )
        self.assertEqual(
            error_of(S3.list_parts, Bucket=self.bucket, Key="aborted", UploadId="../../x")[0], "NoSuchUpload"
        )
        self.assertNotIn(uid, [u["UploadId"] for u in S3.list_multipart_uploads(Bucket=self.bucket).get("Uploads", [])])

    @unittest.skipUnless(os.environ.get("DATENLORD_BIN"), "needs DATENLORD_BIN")
    def test_gc_discards_abandoned_uploads(self):
        uid = S3.create_multipart_upload(Bucket=self.bucket, Key="abandoned")["UploadId"]
        S3.upload_part(Bucket=self.bucket, Key="abandoned", UploadId=uid, PartNumber=1, Body=b"y" * 3000)
        gc = lambda *args: subprocess.run(
            [os.environ["DATENLORD_BIN"], "gc", *args], capture_output=True, text=True, check=True
        ).stdout
        # A day has not passed: not abandoned yet.
        self.assertNotIn(uid, gc())
        said = gc("--uploads-older-than", "0")
        self.assertIn(f"upload {uid} of {self.bucket}/abandoned", said)
        self.assertIn("dry run", said)
        self.assertIn(uid, [u["UploadId"] for u in S3.list_multipart_uploads(Bucket=self.bucket)["Uploads"]])
        said = gc("--uploads-older-than", "0", "--delete")
        self.assertRegex(said, r"unfinished S3 uploads .* discarded")
        self.assertNotIn(uid, [u["UploadId"] for u in S3.list_multipart_uploads(Bucket=self.bucket).get("Uploads", [])])
        self.assertEqual(
            error_of(S3.list_parts, Bucket=self.bucket, Key="abandoned", UploadId=uid)[0], "NoSuchUpload"
        )

    def test_upload_part_copy(self):
        src = os.urandom(6 * MIB)
        S3.put_object(Bucket=self.bucket, Key="copy-src", Body=src)
        uid = S3.create_multipart_upload(Bucket=self.bucket, Key="copied")["UploadId"]
        first = S3.upload_part_copy(
            Bucket=self.bucket, Key="copied", UploadId=uid, PartNumber=1,
            CopySource={"Bucket": self.bucket, "Key": "copy-src"}, CopySourceRange=f"bytes=0-{5 * MIB - 1}",
        )["CopyPartResult"]["ETag"]
        second = S3.upload_part_copy(
            Bucket=self.bucket, Key="copied", UploadId=uid, PartNumber=2,
            CopySource={"Bucket": self.bucket, "Key": "copy-src"}, CopySourceRange=f"bytes={5 * MIB}-{6 * MIB - 1}",
        )["CopyPartResult"]["ETag"]
        self.assertEqual(
            error_of(
                S3.upload_part_copy, Bucket=self.bucket, Key="copied", UploadId=uid, PartNumber=3,
                CopySource={"Bucket": self.bucket, "Key": "copy-src"}, CopySourceRange=f"bytes=0-{6 * MIB}",
            )[0],
            "InvalidRange",
        )
        S3.complete_multipart_upload(
            Bucket=self.bucket, Key="copied", UploadId=uid,
            MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": first}, {"PartNumber": 2, "ETag": second}]},
        )
        self.assertEqual(S3.get_object(Bucket=self.bucket, Key="copied")["Body"].read(), src)


class Auth(unittest.TestCase):
    def test_bad_credentials(self):
        self.assertEqual(error_of(client(secret="wrong-secret").list_buckets), ("SignatureDoesNotMatch", 403))
        self.assertEqual(error_of(client(key="nobody").list_buckets), ("InvalidAccessKeyId", 403))
        from botocore import UNSIGNED

        anonymous = client(signature_version=UNSIGNED)
        self.assertEqual(anonymous.list_buckets()["Buckets"], [], "anonymous requests own no bucket")
        self.assertEqual(error_of(anonymous.list_objects_v2, Bucket="no-such-bucket-here"), ("NoSuchBucket", 404))

    def test_presigned_urls(self):
        bucket = new_bucket()
        S3.put_object(Bucket=bucket, Key="shared.txt", Body=b"presigned bytes")
        v4 = client(signature_version="s3v4")
        for signer in [S3, v4]:
            url = signer.generate_presigned_url(
                "get_object", Params={"Bucket": bucket, "Key": "shared.txt"}, ExpiresIn=60
            )
            fetched = subprocess.run(["curl", "-sf", url], capture_output=True, check=True)
            self.assertEqual(fetched.stdout, b"presigned bytes")
        url = v4.generate_presigned_url("put_object", Params={"Bucket": bucket, "Key": "up.txt"}, ExpiresIn=60)
        req = urllib.request.Request(url, data=b"uploaded", method="PUT")
        with urllib.request.urlopen(req) as resp:
            self.assertEqual(resp.status, 200)
        self.assertEqual(S3.get_object(Bucket=bucket, Key="up.txt")["Body"].read(), b"uploaded")
        tampered = url.replace("up.txt", "other.txt")
        with self.assertRaises(urllib.error.HTTPError) as caught:
            urllib.request.urlopen(urllib.request.Request(tampered, data=b"x", method="PUT"))
        self.assertEqual(caught.exception.code, 403)

    def test_streaming_signed_chunks(self):
        import datetime
        import hmac

        from botocore.auth import SigV4Auth
        from botocore.awsrequest import AWSRequest
        from botocore.credentials import Credentials

        bucket = new_bucket()
        data = os.urandom(200_000)
        pieces = [data[i : i + 65536] for i in range(0, len(data), 65536)] + [b""]
        sha = lambda b: hashlib.sha256(b).hexdigest()

        def put(key, tamper=False):
            encoded_len = sum(len(f"{len(p):x};chunk-signature=") + 64 + 2 + len(p) + 2 for p in pieces)
            url = f"{URL}/{bucket}/{key}"
            req = AWSRequest(
                method="PUT",
                url=url,
                headers={
                    "X-Amz-Content-SHA256": "STREAMING-AWS4-HMAC-SHA256-PAYLOAD",
                    "Content-Encoding": "aws-chunked",
                    "X-Amz-Decoded-Content-Length": str(len(data)),
                    "Content-Length": str(encoded_len),
                },
            )
            SigV4Auth(Credentials(KEY, SECRET), "s3", "us-east-1").add_auth(req)
            amz_date = req.headers["X-Amz-Date"]
            scope = f"{amz_date[:8]}/us-east-1/s3/aws4_request"
            signing = ("AWS4" + SECRET).encode()
            for part in [amz_date[:8], "us-east-1", "s3", "aws4_request"]:
                signing = hmac.new(signing, part.encode(), hashlib.sha256).digest()
            previous = req.headers["Authorization"].rsplit("Signature=", 1)[1]
            body = b""
            for piece in pieces:
                to_sign = "\n".join(["AWS4-HMAC-SHA256-PAYLOAD", amz_date, scope, previous, sha(b""), sha(piece)])
                previous = hmac.new(signing, to_sign.encode(), hashlib.sha256).hexdigest()
                sent = bytes([piece[0] ^ 1]) + piece[1:] if tamper and piece else piece
                body += f"{len(piece):x};chunk-signature={previous}\r\n".encode() + sent + b"\r\n"
            assert len(body) == encoded_len
            request = urllib.request.Request(url, data=body, method="PUT", headers=dict(req.headers))
            try:
                with urllib.request.urlopen(request) as resp:
                    return resp.status
            except urllib.error.HTTPError as err:
                return err.code

        self.assertEqual(put("streamed"), 200)
        self.assertEqual(S3.get_object(Bucket=bucket, Key="streamed")["Body"].read(), data)
        self.assertEqual(put("tampered", tamper=True), 403)
        self.assertEqual(error_of(S3.head_object, Bucket=bucket, Key="tampered")[1], 404)

    def test_unsupported_operations_say_so(self):
        bucket = new_bucket()
        self.assertEqual(error_of(S3.get_bucket_website, Bucket=bucket), ("NotImplemented", 501))


def anonymous_get(bucket, key=""):
    """The status and body of an unsigned GET."""
    try:
        with urllib.request.urlopen(f"{URL}/{bucket}/{urllib.parse.quote(key)}") as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as err:
        return err.code, err.read()


def grants_of(response):
    out = set()
    for g in response["Grants"]:
        who = g["Grantee"].get("ID") or g["Grantee"].get("URI").rsplit("/", 1)[-1]
        out.add((who, g["Permission"]))
    return out


class AccessControl(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.other = client(key=OTHER_KEY, secret=OTHER_SECRET)

    def test_buckets_belong_to_their_creator_until_granted(self):
        bucket = new_bucket()
        acl = S3.get_bucket_acl(Bucket=bucket)
        self.assertEqual(acl["Owner"]["ID"], KEY)
        self.assertEqual(grants_of(acl), {(KEY, "FULL_CONTROL")})
        self.assertNotIn(bucket, [b["Name"] for b in self.other.list_buckets()["Buckets"]])
        self.assertEqual(error_of(self.other.list_objects_v2, Bucket=bucket), ("AccessDenied", 403))
        self.assertEqual(error_of(self.other.put_object, Bucket=bucket, Key="k", Body=b"x")[0], "AccessDenied")
        self.assertEqual(error_of(self.other.delete_bucket, Bucket=bucket)[0], "AccessDenied")
        self.assertEqual(error_of(self.other.create_bucket, Bucket=bucket), ("BucketAlreadyExists", 409))
        self.assertEqual(anonymous_get(bucket)[0], 403)

        S3.put_bucket_acl(Bucket=bucket, ACL="public-read")
        self.assertEqual(grants_of(S3.get_bucket_acl(Bucket=bucket)), {(KEY, "FULL_CONTROL"), ("AllUsers", "READ")})
        self.assertEqual(anonymous_get(bucket)[0], 200)
        self.other.list_objects_v2(Bucket=bucket)
        self.assertEqual(error_of(self.other.put_object, Bucket=bucket, Key="k", Body=b"x")[0], "AccessDenied")
        self.assertEqual(error_of(self.other.get_bucket_acl, Bucket=bucket)[0], "AccessDenied")

        S3.put_bucket_acl(Bucket=bucket, GrantWrite=f'id="{OTHER_KEY}"', GrantFullControl=f'id="{KEY}"')
        self.other.put_object(Bucket=bucket, Key="theirs", Body=b"by the other user")
        # The writer owns the object: the bucket's owner may delete it, not read it, unless granted.
        self.assertEqual(error_of(S3.get_object, Bucket=bucket, Key="theirs")[0], "AccessDenied")
        self.other.put_object_acl(Bucket=bucket, Key="theirs", ACL="bucket-owner-full-control")
        self.assertEqual(S3.get_object(Bucket=bucket, Key="theirs")["Body"].read(), b"by the other user")
        self.assertEqual(S3.get_object_acl(Bucket=bucket, Key="theirs")["Owner"]["ID"], OTHER_KEY)
        S3.put_object(Bucket=bucket, Key="mine", Body=b"by the owner")
        owners = {o["Key"]: o["Owner"]["ID"] for o in S3.list_objects(Bucket=bucket)["Contents"]}
        self.assertEqual(owners, {"theirs": OTHER_KEY, "mine": KEY})
        fetched = S3.list_objects_v2(Bucket=bucket, FetchOwner=True)["Contents"]
        self.assertEqual({o["Key"]: o["Owner"]["ID"] for o in fetched}, owners)
        self.assertNotIn("Owner", S3.list_objects_v2(Bucket=bucket)["Contents"][0])
        self.assertEqual(error_of(self.other.list_objects_v2, Bucket=bucket)[0], "AccessDenied")
        self.assertEqual(
            error_of(S3.put_bucket_acl, Bucket=bucket, GrantRead='id="nobody-here"'), ("InvalidArgument", 400)
        )
        self.assertEqual(
            error_of(S3.put_bucket_acl, Bucket=bucket, GrantRead="emailAddress=a@example.com")[0],
            "UnresolvableGrantByEmailAddress",
        )
        self.assertEqual(error_of(S3.put_bucket_acl, Bucket=bucket, ACL="private", GrantRead=f'id="{KEY}"')[1], 400)

    def test_objects_are_private_unless_granted(self):
        bucket = new_bucket()
        S3.put_bucket_acl(Bucket=bucket, ACL="public-read")
        S3.put_object(Bucket=bucket, Key="secret", Body=b"mine")
        self.assertEqual(anonymous_get(bucket, "secret")[0], 403)
        self.assertEqual(error_of(self.other.get_object, Bucket=bucket, Key="secret")[0], "AccessDenied")
        self.assertEqual(error_of(self.other.get_object, Bucket=bucket, Key="missing")[0], "NoSuchKey")

        S3.put_object_acl(Bucket=bucket, Key="secret", ACL="public-read")
        self.assertEqual(anonymous_get(bucket, "secret"), (200, b"mine"))
        acl = S3.get_object_acl(Bucket=bucket, Key="secret")
        self.assertEqual(grants_of(acl), {(KEY, "FULL_CONTROL"), ("AllUsers", "READ")})
        self.assertEqual(error_of(self.other.put_object_acl, Bucket=bucket, Key="secret", ACL="private")[0], "AccessDenied")

        S3.put_object(Bucket=bucket, Key="for-other", Body=b"shared", GrantRead=f'id="{OTHER_KEY}"')
        self.assertEqual(self.other.get_object(Bucket=bucket, Key="for-other")["Body"].read(), b"shared")
        self.assertEqual(anonymous_get(bucket, "for-other")[0], 403)

        S3.put_object(Bucket=bucket, Key="public", Body=b"open", ACL="public-read")
        S3.copy_object(Bucket=bucket, Key="copy", CopySource={"Bucket": bucket, "Key": "public"})
        self.assertEqual(anonymous_get(bucket, "copy")[0], 403, "a copy takes the request's ACL")
        self.assertEqual(
            error_of(self.other.copy_object, Bucket=bucket, Key="x", CopySource={"Bucket": bucket, "Key": "secret"})[0],
            "AccessDenied",
        )

        body = {"Owner": acl["Owner"], "Grants": [g for g in acl["Grants"] if g["Grantee"].get("ID") == KEY]}
        S3.put_object_acl(Bucket=bucket, Key="secret", AccessControlPolicy=body)
        self.assertEqual(anonymous_get(bucket, "secret")[0], 403)
        stolen = {"Owner": {"ID": OTHER_KEY}, "Grants": acl["Grants"]}
        self.assertEqual(error_of(S3.put_object_acl, Bucket=bucket, Key="secret", AccessControlPolicy=stolen)[0], "AccessDenied")

        upload = S3.create_multipart_upload(Bucket=bucket, Key="multi", ACL="public-read")["UploadId"]
        etag = S3.upload_part(Bucket=bucket, Key="multi", UploadId=upload, PartNumber=1, Body=b"parts")["ETag"]
        S3.complete_multipart_upload(
            Bucket=bucket, Key="multi", UploadId=upload, MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": etag}]}
        )
        self.assertEqual(anonymous_get(bucket, "multi"), (200, b"parts"))

    def test_browser_post_uploads(self):
        bucket = new_bucket()
        post = S3.generate_presigned_post(
            bucket,
            "uploads/${filename}",
            Fields={"success_action_status": "201"},
            Conditions=[["starts-with", "$key", "uploads/"], {"success_action_status": "201"}, ["content-length-range", 1, 1024]],
            ExpiresIn=60,
        )

        def submit(content, post=post):
            boundary = uuid.uuid4().hex
            parts = []
            for name, value in post["fields"].items():
                parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode())
            parts.append(
                f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="photo.jpg"\r\n'
                f"Content-Type: image/jpeg\r\n\r\n".encode() + content + f"\r\n--{boundary}--\r\n".encode()
            )
            req = urllib.request.Request(
                post["url"], data=b"".join(parts), method="POST",
                headers={"Content-Type": f"multipart/form-data; boundary={boundary}"},
            )

            class NoRedirect(urllib.request.HTTPRedirectHandler):
                def redirect_request(self, *args):
                    return None

            try:
                with urllib.request.build_opener(NoRedirect).open(req) as resp:
                    return resp.status, resp.read()
            except urllib.error.HTTPError as err:
                return err.code, err.headers.get("Location") if err.code == 303 else err.read()

        status, body = submit(b"jpeg bytes")
        self.assertEqual(status, 201, body)
        self.assertIn(b"<Key>uploads/photo.jpg</Key>", body)
        self.assertEqual(S3.get_object(Bucket=bucket, Key="uploads/photo.jpg")["Body"].read(), b"jpeg bytes")
        status, body = submit(b"x" * 2048)
        self.assertEqual(status, 400, body)
        self.assertIn(b"EntityTooLarge", body)
        tagging = "<Tagging><TagSet><Tag><Key>from</Key><Value>form</Value></Tag></TagSet></Tagging>"
        fields = {"acl": "public-read", "tagging": tagging, "success_action_redirect": "http://example.com/done"}
        shared = S3.generate_presigned_post(
            bucket, "shared.txt", Fields=fields, Conditions=[{k: v} for k, v in fields.items()], ExpiresIn=60
        )
        status, location = submit(b"for everyone", shared)
        self.assertEqual(status, 303)
        etag = md5_hex(b"for everyone")
        self.assertIn(f"etag=%22{etag}%22", location)
        self.assertEqual(anonymous_get(bucket, "shared.txt"), (200, b"for everyone"))
        self.assertEqual(S3.get_object_tagging(Bucket=bucket, Key="shared.txt")["TagSet"], [{"Key": "from", "Value": "form"}])
        elsewhere = S3.generate_presigned_post(
            bucket, "other/x", Conditions=[["starts-with", "$key", "uploads/"]], ExpiresIn=60
        )
        status, body = submit(b"outside", elsewhere)
        self.assertEqual(status, 403, body)
        self.assertIn(b"AccessDenied", body)
        post["fields"]["policy"] = post["fields"]["policy"][:-4] + "AAAA"
        self.assertEqual(submit(b"tampered")[0], 403)

    def test_cors(self):
        bucket = new_bucket()
        S3.put_object(Bucket=bucket, Key="page.js", Body=b"js", ACL="public-read")

        def request(method, headers, key="page.js"):
            req = urllib.request.Request(f"{URL}/{bucket}/{key}", method=method, headers=headers)
            try:
                with urllib.request.urlopen(req) as resp:
                    return resp.status, resp.headers
            except urllib.error.HTTPError as err:
                return err.code, err.headers

        ask = {"Origin": "https://app.example.com", "Access-Control-Request-Method": "PUT"}
        self.assertEqual(request("OPTIONS", ask)[0], 403, "no CORS rules yet")
        self.assertEqual(error_of(S3.get_bucket_cors, Bucket=bucket)[0], "NoSuchCORSConfiguration")
        rules = [
            {
                "AllowedOrigins": ["https://*.example.com"],
                "AllowedMethods": ["GET", "PUT"],
                "AllowedHeaders": ["content-type", "x-amz-*"],
                "ExposeHeaders": ["ETag"],
                "MaxAgeSeconds": 300,
            },
            {"AllowedOrigins": ["*"], "AllowedMethods": ["GET"]},
        ]
        S3.put_bucket_cors(Bucket=bucket, CORSConfiguration={"CORSRules": rules})
        self.assertEqual(S3.get_bucket_cors(Bucket=bucket)["CORSRules"][0]["AllowedOrigins"], ["https://*.example.com"])
        self.assertEqual(error_of(self.other.put_bucket_cors, Bucket=bucket, CORSConfiguration={"CORSRules": rules})[0], "AccessDenied")

        status, headers = request("OPTIONS", {**ask, "Access-Control-Request-Headers": "Content-Type, X-Amz-Date"})
        self.assertEqual(status, 200)
        self.assertEqual(headers["Access-Control-Allow-Origin"], "https://app.example.com")
        self.assertEqual(headers["Access-Control-Allow-Methods"], "GET, PUT")
        self.assertEqual(headers["Access-Control-Max-Age"], "300")
        self.assertEqual(request("OPTIONS", {**ask, "Access-Control-Request-Headers": "Authorization"})[0], 403)
        self.assertEqual(request("OPTIONS", {**ask, "Origin": "https://evil.test"})[0], 403)
        self.assertEqual(request("OPTIONS", {"Origin": "https://app.example.com"})[0], 400)

        status, headers = request("GET", {"Origin": "https://app.example.com"})
        self.assertEqual(status, 200)
        self.assertEqual(headers["Access-Control-Allow-Origin"], "https://app.example.com")
        self.assertEqual(headers["Access-Control-Expose-Headers"], "ETag")
        status, headers = request("GET", {"Origin": "https://elsewhere.test"})
        self.assertEqual(headers["Access-Control-Allow-Origin"], "*")
        self.assertIsNone(request("GET", {})[1]["Access-Control-Allow-Origin"])

        bad = [{"AllowedOrigins": ["*"], "AllowedMethods": ["PATCH"]}]
        self.assertEqual(error_of(S3.put_bucket_cors, Bucket=bucket, CORSConfiguration={"CORSRules": bad})[1], 400)
        S3.delete_bucket_cors(Bucket=bucket)
        self.assertEqual(error_of(S3.get_bucket_cors, Bucket=bucket)[0], "NoSuchCORSConfiguration")
        self.assertEqual(request("OPTIONS", ask)[0], 403)

    def test_bucket_policies(self):
        import json

        bucket = new_bucket()
        for key in ["public/a", "private/a", "keep/a", "gone/a", "blocked/a", "home/other/x"]:
            S3.put_object(Bucket=bucket, Key=key, Body=key.encode())
        S3.put_object(Bucket=bucket, Key="tagged", Body=b"tagged", Tagging="share=yes")
        arn = f"arn:aws:s3:::{bucket}"
        policy = {
            "Version": "2012-10-17",
            "Statement": [
                {"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": f"{arn}/public/*"},
                {"Effect": "Deny", "Principal": "*", "Action": "s3:DeleteObject", "Resource": f"{arn}/keep/*"},
                {
                    "Effect": "Deny",
                    "Principal": "*",
                    "Action": "s3:GetObject",
                    "Resource": f"{arn}/blocked/*",
                    "Condition": {"IpAddress": {"aws:SourceIp": "127.0.0.0/8"}},
                },
                {
                    "Effect": "Allow",
                    "Principal": {"AWS": OTHER_KEY},
                    "Action": "s3:GetObject",
                    "Resource": f"{arn}/*",
                    "Condition": {"StringEquals": {"s3:ExistingObjectTag/share": "yes"}},
                },
                {
                    "Effect": "Allow",
                    "Principal": {"AWS": [f"arn:aws:iam::{OTHER_KEY}:root"]},
                    "Action": ["s3:ListBucket"],
                    "Resource": arn,
                    "Condition": {"StringLike": {"s3:prefix": "home/other/*"}},
                },
            ],
        }
        S3.put_bucket_policy(Bucket=bucket, Policy=json.dumps(policy))
        self.assertEqual(json.loads(S3.get_bucket_policy(Bucket=bucket)["Policy"]), policy)
        self.assertEqual(anonymous_get(bucket, "public/a"), (200, b"public/a"))
        self.assertEqual(anonymous_get(bucket, "private/a")[0], 403)
        self.assertEqual(error_of(S3.get_object, Bucket=bucket, Key="blocked/a")[0], "AccessDenied", "deny binds the owner")
        self.assertEqual(error_of(S3.delete_object, Bucket=bucket, Key="keep/a")[0], "AccessDenied")
        result = S3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": "keep/a"}, {"Key": "gone/a"}]})
        self.assertEqual([e["Key"] for e in result.get("Errors", [])], ["keep/a"])
        self.assertEqual([d["Key"] for d in result.get("Deleted", [])], ["gone/a"])
        self.assertEqual(keys_of(self.other.list_objects_v2(Bucket=bucket, Prefix="home/other/")), ["home/other/x"])
        self.assertEqual(error_of(self.other.list_objects_v2, Bucket=bucket)[0], "AccessDenied")
        self.assertEqual(error_of(self.other.get_bucket_policy, Bucket=bucket)[0], "AccessDenied")
        self.assertEqual(self.other.get_object(Bucket=bucket, Key="tagged")["Body"].read(), b"tagged")
        self.assertEqual(error_of(self.other.get_object, Bucket=bucket, Key="private/a")[0], "AccessDenied")
        self.assertEqual(error_of(self.other.head_object, Bucket=bucket, Key="home/other/missing")[1], 404)
        self.assertEqual(error_of(self.other.head_object, Bucket=bucket, Key="elsewhere/missing")[1], 403)

        for bad in [
            "{not json",
            json.dumps({"Statement": [{"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::elsewhere/*"}]}),
            json.dumps({"Statement": [{"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": f"{arn}/*", "Condition": {"Perhaps": {}}}]}),
        ]:
            self.assertEqual(error_of(S3.put_bucket_policy, Bucket=bucket, Policy=bad), ("MalformedPolicy", 400))

        S3.delete_bucket_policy(Bucket=bucket)
        self.assertEqual(error_of(S3.get_bucket_policy, Bucket=bucket)[0], "NoSuchBucketPolicy")
        self.assertEqual(anonymous_get(bucket, "public/a")[0], 403)
        S3.delete_object(Bucket=bucket, Key="keep/a")

    def test_signature_v2(self):
        bucket = new_bucket()
        v2 = client(signature_version="s3")
        v2.put_object(Bucket=bucket, Key="v2 key", Body=b"signed the old way")
        self.assertEqual(v2.get_object(Bucket=bucket, Key="v2 key")["Body"].read(), b"signed the old way")
        self.assertEqual(keys_of(v2.list_objects(Bucket=bucket)), ["v2 key"])
        self.assertEqual(error_of(client(secret="wrong", signature_version="s3").list_buckets)[1], 403)


class Versioning(unittest.TestCase):
    def versions(self, bucket, **kwargs):
        pages = S3.get_paginator("list_object_versions").paginate(Bucket=bucket, **kwargs)
        versions, markers = [], []
        for page in pages:
            versions += [(v["Key"], v["VersionId"], v["IsLatest"]) for v in page.get("Versions", [])]
            markers += [(m["Key"], m["VersionId"], m["IsLatest"]) for m in page.get("DeleteMarkers", [])]
        return versions, markers

    def test_versions_markers_and_their_removal(self):
        bucket = new_bucket()
        self.assertNotIn("Status", S3.get_bucket_versioning(Bucket=bucket))
        S3.put_object(Bucket=bucket, Key="k", Body=b"before")
        S3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
        self.assertEqual(S3.get_bucket_versioning(Bucket=bucket)["Status"], "Enabled")
        v1 = S3.put_object(Bucket=bucket, Key="k", Body=b"one")["VersionId"]
        v2 = S3.put_object(Bucket=bucket, Key="k", Body=b"two")["VersionId"]
        self.assertNotEqual(v1, v2)
        got = S3.get_object(Bucket=bucket, Key="k")
        self.assertEqual((got["Body"].read(), got["VersionId"]), (b"two", v2))
        self.assertEqual(S3.get_object(Bucket=bucket, Key="k", VersionId=v1)["Body"].read(), b"one")
        self.assertEqual(S3.get_object(Bucket=bucket, Key="k", VersionId="null")["Body"].read(), b"before")
        self.assertEqual(S3.head_object(Bucket=bucket, Key="k", VersionId=v1)["ContentLength"], 3)
        S3.put_object_tagging(Bucket=bucket, Key="k", VersionId=v1, Tagging={"TagSet": [{"Key": "old", "Value": "1"}]})
        self.assertEqual(S3.get_object_tagging(Bucket=bucket, Key="k", VersionId=v1)["TagSet"], [{"Key": "old", "Value": "1"}])
        self.assertEqual(S3.get_object_tagging(Bucket=bucket, Key="k")["TagSet"], [])
        attrs = S3.get_object_attributes(Bucket=bucket, Key="k", VersionId=v1, ObjectAttributes=["ObjectSize"])
        self.assertEqual((attrs["ObjectSize"], attrs["VersionId"]), (3, v1))
        self.assertEqual(self.versions(bucket)[0], [("k", v2, True), ("k", v1, False), ("k", "null", False)])

        marker = S3.delete_object(Bucket=bucket, Key="k")
        self.assertTrue(marker["DeleteMarker"])
        m = marker["VersionId"]
        self.assertEqual(error_of(S3.get_object, Bucket=bucket, Key="k"), ("NoSuchKey", 404))
        self.assertEqual(error_of(S3.head_object, Bucket=bucket, Key="k")[1], 404)
        self.assertEqual(error_of(S3.get_object, Bucket=bucket, Key="k", VersionId=m)[1], 405)
        self.assertEqual(keys_of(S3.list_objects_v2(Bucket=bucket)), [])
        versions, markers = self.versions(bucket)
        self.assertEqual(markers, [("k", m, True)])
        self.assertEqual([v[2] for v in versions], [False, False, False])
        if MOUNT:
            self.assertFalse(os.path.exists(os.path.join(MOUNT, bucket, "k")))

        S3.delete_object(Bucket=bucket, Key="k", VersionId=m)
        self.assertEqual(S3.get_object(Bucket=bucket, Key="k")["Body"].read(), b"two")
        if MOUNT:
            # The mount's kernel may remember "no such file" for its entry timeout.
            path = os.path.join(MOUNT, bucket, "k")
            for _ in range(100):
                if os.path.exists(path):
                    break
                time.sleep(0.1)
            with open(path, "rb") as f:
                self.assertEqual(f.read(), b"two")
        S3.delete_object(Bucket=bucket, Key="k", VersionId=v2)
        self.assertEqual(S3.get_object(Bucket=bucket, Key="k")["Body"].read(), b"one")

        S3.copy_object(Bucket=bucket, Key="copy", CopySource={"Bucket": bucket, "Key": "k", "VersionId": "null"})
        self.assertEqual(S3.get_object(Bucket=bucket, Key="copy")["Body"].read(), b"before")
        self.assertEqual(error_of(S3.get_object, Bucket=bucket, Key="k", VersionId="not-an-id!")[0], "InvalidArgument")
        self.assertEqual(error_of(S3.get_object, Bucket=bucket, Key="k", VersionId="0123abcd")[0], "NoSuchVersion")
        self.assertEqual(error_of(S3.delete_bucket, Bucket=bucket), ("BucketNotEmpty", 409))

        S3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Suspended"})
        self.assertIsNone(S3.put_object(Bucket=bucket, Key="k", Body=b"three").get("VersionId"), "the null version")
        S3.put_object(Bucket=bucket, Key="k", Body=b"four")
        self.assertEqual(
            [v for v in self.versions(bucket, Prefix="k")[0] if v[0] == "k"],
            [("k", "null", True), ("k", v1, False)],
        )

        everything = [{"Key": k, "VersionId": v} for k, v, _ in self.versions(bucket)[0]]
        everything += [{"Key": k, "VersionId": v} for k, v, _ in self.versions(bucket)[1]]
        result = S3.delete_objects(Bucket=bucket, Delete={"Objects": everything})
        self.assertEqual(result.get("Errors", []), [])
        self.assertEqual(self.versions(bucket), ([], []))
        S3.delete_bucket(Bucket=bucket)

    def test_version_listings_page_and_group(self):
        bucket = new_bucket()
        S3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
        for key in ["a", "b/1", "b/2", "c"]:
            for round in range(2):
                S3.put_object(Bucket=bucket, Key=key, Body=f"{key} {round}".encode())
        S3.delete_object(Bucket=bucket, Key="c")
        versions, markers = self.versions(bucket, MaxKeys=1)
        self.assertEqual([k for k, _, _ in versions], ["a", "a", "b/1", "b/1", "b/2", "b/2", "c", "c"])
        self.assertEqual([(k, latest) for k, _, latest in markers], [("c", True)])
        page = S3.list_object_versions(Bucket=bucket, Delimiter="/")
        self.assertEqual(prefixes_of(page), ["b/"])
        self.assertEqual(sorted({v["Key"] for v in page["Versions"]}), ["a", "c"])


@unittest.skipUnless(os.environ.get("GATEWAY_DOMAIN"), "the gateway serves no domain (GATEWAY_DOMAIN)")
class VirtualHosts(unittest.TestCase):
    """Buckets as subdomains of the gateway's --domain, resolved to 127.0.0.1 in this process."""

    def setUp(self):
        domain = os.environ["GATEWAY_DOMAIN"]
        real = socket.getaddrinfo

        def resolve(host, *args, **kwargs):
            if host == domain or str(host).endswith("." + domain):
                host = "127.0.0.1"
            return real(host, *args, **kwargs)

        socket.getaddrinfo = resolve
        self.addCleanup(setattr, socket, "getaddrinfo", real)
        port = urllib.parse.urlsplit(URL).port
        self.s3 = boto3.client(
            "s3",
            endpoint_url=f"http://{domain}:{port}",
            aws_access_key_id=KEY,
            aws_secret_access_key=SECRET,
            region_name="us-east-1",
            config=Config(s3={"addressing_style": "virtual"}, retries={"max_attempts": 1}),
        )

    def test_buckets_as_subdomains(self):
        bucket = new_bucket()
        self.s3.put_object(Bucket=bucket, Key="dir/v.txt", Body=b"virtual")
        self.assertEqual(S3.get_object(Bucket=bucket, Key="dir/v.txt")["Body"].read(), b"virtual")
        self.assertEqual(keys_of(self.s3.list_objects_v2(Bucket=bucket)), ["dir/v.txt"])
        self.assertEqual(self.s3.get_object(Bucket=bucket, Key="dir/v.txt")["Body"].read(), b"virtual")
        self.assertIn(bucket, [b["Name"] for b in self.s3.list_buckets()["Buckets"]])
        v2 = boto3.client(
            "s3",
            endpoint_url=self.s3.meta.endpoint_url,
            aws_access_key_id=KEY,
            aws_secret_access_key=SECRET,
            region_name="us-east-1",
            config=Config(s3={"addressing_style": "virtual"}, signature_version="s3", retries={"max_attempts": 1}),
        )
        self.assertEqual(keys_of(v2.list_objects(Bucket=bucket)), ["dir/v.txt"])
        self.s3.delete_object(Bucket=bucket, Key="dir/v.txt")
        self.s3.delete_bucket(Bucket=bucket)


class Robustness(unittest.TestCase):
    def test_concurrent_clients(self):
        bucket = new_bucket()
        clients = [client(max_pool_connections=4) for _ in range(8)]

        def work(i):
            s3 = clients[i % len(clients)]
            body = f"object {i} ".encode() * (i + 1)
            s3.put_object(Bucket=bucket, Key=f"c/{i % 8}/{i}", Body=body)
            return s3.get_object(Bucket=bucket, Key=f"c/{i % 8}/{i}")["Body"].read() == body

        with concurrent.futures.ThreadPoolExecutor(64) as pool:
            results = list(pool.map(work, range(256)))
        self.assertTrue(all(results))
        pages = S3.get_paginator("list_objects_v2").paginate(Bucket=bucket)
        self.assertEqual(sum(len(keys_of(p)) for p in pages), 256)

    def test_disconnect_mid_upload_leaves_nothing(self):
        bucket = new_bucket()
        url = S3.generate_presigned_url("put_object", Params={"Bucket": bucket, "Key": "cut"}, ExpiresIn=60)
        parsed = urllib.parse.urlsplit(url)
        with socket.create_connection((parsed.hostname, parsed.port)) as sock:
            head = (
                f"PUT {parsed.path}?{parsed.query} HTTP/1.1\r\nHost: {parsed.netloc}\r\n"
                f"Content-Length: {10 * MIB}\r\n\r\n"
            )
            sock.sendall(head.encode() + b"y" * MIB)
        time.sleep(0.5)
        self.assertEqual(error_of(S3.head_object, Bucket=bucket, Key="cut")[1], 404)
        self.assertEqual(keys_of(S3.list_objects_v2(Bucket=bucket)), [])


def gateway_memory():
    """The gateway's resident and peak memory in MiB, when the suite says which process it is."""
    pid = os.environ.get("GATEWAY_PID")
    if not pid:
        return None
    with open(f"/proc/{pid}/status") as f:
        fields = dict(line.split(":", 1) for line in f)
    return int(fields["VmRSS"].split()[0]) >> 10, int(fields["VmHWM"].split()[0]) >> 10


def read_response(sock):
    """Status and body of one HTTP/1.1 response with a Content-Length."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("closed before the headers")
        data += chunk
    head, body = data.split(b"\r\n\r\n", 1)
    lines = head.decode().split("\r\n")
    length = next(int(l.split(":", 1)[1]) for l in lines if l.lower().startswith("content-length:"))
    while len(body) < length:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("closed mid-body")
        body += chunk
    return int(lines[0].split()[1]), body


@unittest.skipUnless(os.environ.get("GATEWAY_SCALE"), "scale tests run by hand (GATEWAY_SCALE=1)")
class Scale(unittest.TestCase):
    def test_a_thousand_connections_at_once(self):
        import resource

        _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        bucket = new_bucket()
        body = os.urandom(4096)
        S3.put_object(Bucket=bucket, Key="k", Body=body)
        url = S3.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "k"}, ExpiresIn=600)
        parsed = urllib.parse.urlsplit(url)
        request = f"GET {parsed.path}?{parsed.query} HTTP/1.1\r\nHost: {parsed.netloc}\r\n\r\n".encode()
        socks = [socket.create_connection((parsed.hostname, parsed.port)) for _ in range(1000)]
        try:
            for round in range(3):
                for sock in socks:
                    sock.sendall(request)
                for sock in socks:
                    self.assertEqual(read_response(sock), (200, body), f"round {round}")
            print(f"\n1000 keep-alive connections, 3 GETs each: gateway memory (rss, peak) MiB {gateway_memory()}")
        finally:
            for sock in socks:
                sock.close()

    def test_five_gib_multipart_in_100_mib_parts(self):
        import random

        bucket = new_bucket()
        part, total = 100 * MIB, 5 << 30
        sizes = [min(part, total - at) for at in range(0, total, part)]

        def body(n):
            # Sparse-ish: a random head, zeros after.
            return random.Random(n).randbytes(MIB) + bytes(sizes[n - 1] - MIB)

        upload = S3.create_multipart_upload(Bucket=bucket, Key="huge")["UploadId"]
        md5s = {}
        start = time.monotonic()

        def send(n):
            data = body(n)
            md5s[n] = hashlib.md5(data).digest()
            return S3.upload_part(Bucket=bucket, Key="huge", UploadId=upload, PartNumber=n, Body=data)["ETag"]

        with concurrent.futures.ThreadPoolExecutor(4) as pool:
            etags = list(pool.map(send, range(1, len(sizes) + 1)))
        S3.complete_multipart_upload(
            Bucket=bucket,
            Key="huge",
            UploadId=upload,
            MultipartUpload={"Parts": [{"PartNumber": i + 1, "ETag": e} for i, e in enumerate(etags)]},
        )
        took = time.monotonic() - start
        whole = hashlib.md5(b"".join(md5s[n] for n in sorted(md5s))).hexdigest()
        head = S3.head_object(Bucket=bucket, Key="huge")
        self.assertEqual(head["ContentLength"], total)
        self.assertEqual(head["ETag"], f'"{whole}-{len(sizes)}"')
        for n in [1, 26, len(sizes)]:
            at = (n - 1) * part
            got = S3.get_object(Bucket=bucket, Key="huge", Range=f"bytes={at - 16 if n > 1 else 0}-{at + MIB + 15}")
            data = got["Body"].read()
            want = (body(n - 1)[-16:] if n > 1 else b"") + body(n)[: MIB + 16]
            self.assertEqual(data, want, f"part {n}")
        print(f"\n5 GiB in {len(sizes)} parts: {total / MIB / took:.0f} MiB/s up; gateway memory (rss, peak) MiB {gateway_memory()}")
        S3.delete_object(Bucket=bucket, Key="huge")


@unittest.skipUnless(MOUNT, "no mount of the volume (MOUNT_DIR)")
class OneNamespace(unittest.TestCase):
    def test_mount_writes_are_objects_and_objects_are_files(self):
        bucket = new_bucket()
        root = os.path.join(MOUNT, bucket)
        os.makedirs(os.path.join(root, "from-mount"), exist_ok=True)
        data = os.urandom(MIB + 5)
        with open(os.path.join(root, "from-mount", "file.bin"), "wb") as f:
            f.write(data)
        got = S3.get_object(Bucket=bucket, Key="from-mount/file.bin")
        self.assertEqual(got["Body"].read(), data)
        self.assertEqual(got["ETag"], f'"{md5_hex(data)}"')
        listed = S3.list_objects_v2(Bucket=bucket)
        self.assertEqual(keys_of(listed), ["from-mount/file.bin"])
        # A rewrite through the mount changes the ETag.
        with open(os.path.join(root, "from-mount", "file.bin"), "wb") as f:
            f.write(b"rewritten")
        self.assertEqual(S3.head_object(Bucket=bucket, Key="from-mount/file.bin")["ETag"], f'"{md5_hex(b"rewritten")}"')
        S3.put_object(Bucket=bucket, Key="from-s3/deep/obj.txt", Body=b"via s3")
        with open(os.path.join(root, "from-s3", "deep", "obj.txt"), "rb") as f:
            self.assertEqual(f.read(), b"via s3")
        os.mkdir(os.path.join(root, "empty-dir"))
        os.symlink("from-s3/deep/obj.txt", os.path.join(root, "a-link"))
        listed = keys_of(S3.list_objects_v2(Bucket=bucket))
        self.assertIn("empty-dir/", listed)
        # A symbolic link is no object: not listed, and not found.
        self.assertNotIn("a-link", listed)
        self.assertEqual(error_of(S3.head_object, Bucket=bucket, Key="a-link")[1], 404)
        # A directory made through the mount stays when its last object goes, and a delete of
        # its "folder" key while it has entries leaves it a mount directory.
        S3.delete_object(Bucket=bucket, Key="from-mount/")
        S3.delete_object(Bucket=bucket, Key="from-mount/file.bin")
        self.assertTrue(os.path.isdir(os.path.join(root, "from-mount")))
        S3.delete_object(Bucket=bucket, Key="from-s3/deep/obj.txt")
        # (A listing, not a lookup: the kernel may keep the name for the entry timeout.)
        self.assertNotIn("from-s3", os.listdir(root))


if __name__ == "__main__":
    unittest.main(verbosity=2)
