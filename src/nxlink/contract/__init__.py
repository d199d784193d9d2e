"""Wire-level facts shared by the server and the client: codes, messages, names."""
