"""The receiver's durable inbox: a notification is committed before Alertmanager gets its 200, and acted
on afterwards by whichever receiver claims it first.

`store.py` is the interface (`InboxStore`, with each method's contract), `front.py` the group commit the
request path uses, `schema.py` the tables for each engine and `sql_store.py` the one implementation, with
`open_inbox(url)`.
"""
