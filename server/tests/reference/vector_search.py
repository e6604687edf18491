"""The reference article's reading side, verbatim in spirit: open the collection with pymilvus,
check it is loaded, count rows with count(*), and run the article's `vector_search` with a
query vector. Prints JSON: {"count": N, "state": "...", "filepaths": [...]}.

Usage: python vector_search.py URI COLLECTION LIMIT < vector.json
"""
import json
import sys

from pymilvus import MilvusClient

uri, collection_name, limit = sys.argv[1], sys.argv[2], int(sys.argv[3])
query_embedding = json.load(sys.stdin)

milvus_client = MilvusClient(uri=uri)
milvus_client.load_collection(collection_name=collection_name)
state = str(milvus_client.get_load_state(collection_name=collection_name)["state"])
count = milvus_client.query(collection_name=collection_name, output_fields=["count(*)"])[0]["count(*)"]


def vector_search(vector, field_name, limit, output_fields):
    # 执行向量图片检索 (the article's function)
    res = milvus_client.search(
        collection_name=collection_name,
        data=vector,
        anns_field=field_name,
        limit=limit,
        output_fields=output_fields,
    )
    return res


res = vector_search([query_embedding], "vectors", limit, ["filepath"])
filepaths = [hit["entity"]["filepath"] for result in res for hit in result]
print(json.dumps({"count": count, "state": state, "filepaths": filepaths}))
