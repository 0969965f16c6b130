from bson import Int64
from pymongo import MongoClient


def test_documents_round_trip_through_the_real_server_with_bson_types(
    mongo_client: MongoClient, db_prefix: str
):
    users = mongo_client[f"{db_prefix}default_users"]["users"]
    inserted = users.insert_one(
        {"account": {"accountConfirmedAt": Int64(0)}, "timestamps": {"createdAt": Int64(5)}}
    )

    stored = mongo_client[f"{db_prefix}default_users"].command(
        "find", "users", filter={"_id": inserted.inserted_id}
    )["cursor"]["firstBatch"][0]

    assert stored["timestamps"]["createdAt"] == 5
    assert isinstance(stored["timestamps"]["createdAt"], Int64)
    assert f"{db_prefix}default_users" in mongo_client.list_database_names()
