"""The runtime core every part shares: settings, errors, the event contract, the raw layout
and the S3 and warehouse connections. It imports nothing else from the project (a test
checks), so a Lambda or the warehouse host ships it whole."""
