"""Updates pushed to the team: the notify file (`config`), the messages (`payload`), sending them (`send`)
and the receiver's delivery loop over the incident store's outbox (`deliver`)."""
