"""ListObjects and ListObjectsV2: walking a bucket's keys into S3's ``ListBucketResult``."""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import quote
from xml.sax.saxutils import escape

from lamina.services.s3.answers import XMLNS, iso
from lamina.services.s3.requests import ListObjects
from lamina.services.s3.store import ObjectInfo, ObjectStore


async def list_objects(store: ObjectStore, bucket: str, req: ListObjects) -> str:
    """The ``ListBucketResult`` document for ``req`` (without the XML declaration)."""
    prefix, delimiter, max_keys = req.prefix, req.delimiter, req.max_keys
    enc: Callable[[str], str] = (lambda s: quote(s, safe="/")) if req.url_encoded else escape
    contents: list[ObjectInfo] = []
    prefixes: list[str] = []
    truncated = False
    last = req.after
    cursor = req.after
    while len(contents) + len(prefixes) < max_keys:
        batch = await store.list(bucket, prefix, cursor, 1000)
        if not batch:
            break
        for info in batch:
            cursor = info.key
            if delimiter:
                idx = info.key.find(delimiter, len(prefix))
                if idx >= 0:
                    cp = info.key[: idx + len(delimiter)]
                    if cp not in prefixes:
                        if len(contents) + len(prefixes) >= max_keys:
                            truncated = True
                            break
                        prefixes.append(cp)
                        last = cp
                    cursor = cp + "\U0010ffff"
                    break
            if len(contents) + len(prefixes) >= max_keys:
                truncated = True
                break
            contents.append(info)
            last = info.key
        if truncated:
            break
    if not truncated and len(contents) + len(prefixes) >= max_keys:
        truncated = bool(await store.list(bucket, prefix, cursor, 1))
    items = "".join(
        f"<Contents><Key>{enc(o.key)}</Key><LastModified>{iso(o.last_modified)}</LastModified>"
        f"<ETag>&quot;{o.etag}&quot;</ETag><Size>{o.size}</Size>"
        "<StorageClass>STANDARD</StorageClass></Contents>"
        for o in contents
    )
    cps = "".join(f"<CommonPrefixes><Prefix>{enc(p)}</Prefix></CommonPrefixes>" for p in prefixes)
    head = (
        f"<Name>{escape(bucket)}</Name><Prefix>{enc(prefix)}</Prefix>"
        f"<MaxKeys>{max_keys}</MaxKeys><IsTruncated>{'true' if truncated else 'false'}</IsTruncated>"
    )
    if delimiter:
        head += f"<Delimiter>{enc(delimiter)}</Delimiter>"
    if req.url_encoded:
        head += "<EncodingType>url</EncodingType>"
    if req.v2:
        head += f"<KeyCount>{len(contents) + len(prefixes)}</KeyCount>"
        if req.continuation_token:
            head += f"<ContinuationToken>{req.continuation_token}</ContinuationToken>"
        if truncated:
            head += f"<NextContinuationToken>{last.encode().hex()}</NextContinuationToken>"
        if req.start_after is not None:
            head += f"<StartAfter>{enc(req.start_after)}</StartAfter>"
    else:
        head += f"<Marker>{enc(req.after)}</Marker>"
        if truncated and delimiter:
            head += f"<NextMarker>{enc(last)}</NextMarker>"
    return f'<ListBucketResult xmlns="{XMLNS}">{head}{items}{cps}</ListBucketResult>'
