export const EVENTS_SETTINGS = Symbol('EVENTS_SETTINGS');
