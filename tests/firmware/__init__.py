"""The pump's firmware on a fake HAL: dosing, safety limits, alarms, log and NVM."""
