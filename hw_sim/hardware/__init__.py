"""The hardware models: motor, reservoir, catheter, battery, buzzer, NVM image file, entropy, telemetry buffer and the link to the patient."""
