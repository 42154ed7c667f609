export * from './service-contract';
