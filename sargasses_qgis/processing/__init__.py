"""The Processing side of the plugin: provider `sargasses`, algorithm `sargasses:detect`."""
