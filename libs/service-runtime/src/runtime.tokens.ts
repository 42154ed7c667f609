export const SERVICE_SETTINGS = Symbol('SERVICE_SETTINGS');
export const ROOT_LOGGER = Symbol('ROOT_LOGGER');
export const SERVICE_STARTED_AT = Symbol('SERVICE_STARTED_AT');
export const SERVICE_VERSION = '0.1.0';
