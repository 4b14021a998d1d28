"""The external programmer: client session, transports, key store, the pumpctl command."""
